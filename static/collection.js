// A collection's clips played one after another in one player: each clip's media is loaded,
// played from its start and left at its end for the next. Without JavaScript every clip is
// still a link to its moment in the talk.
(function () {
  "use strict";
  var player = document.getElementById("clip-player");
  if (!player) return;
  var clips = Array.prototype.slice.call(document.querySelectorAll("li.clip"));
  var status = document.getElementById("now-playing");
  var current = -1, continuous = false;

  function play(index) {
    clips.forEach(function (li) { li.classList.remove("playing"); li.removeAttribute("aria-current"); });
    if (index < 0 || index >= clips.length) {
      current = -1;
      status.textContent = continuous ? "Played every clip." : "";
      continuous = false;
      return;
    }
    current = index;
    var li = clips[index], start = Number(li.dataset.start);
    li.classList.add("playing");
    li.setAttribute("aria-current", "true");
    player.hidden = false;
    player.classList.toggle("audio-only", li.dataset.kind !== "video");
    status.textContent = "Playing clip " + (index + 1) + " of " + clips.length + ": " + li.dataset.title;
    var media = new URL(li.dataset.media, document.baseURI).href;
    function seekAndPlay() {
      player.currentTime = start;
      var started = player.play();
      if (started && started.catch) started.catch(function () {});  // a browser that blocks autoplay shows the controls
    }
    if (player.src !== media) {
      player.src = media;
      player.addEventListener("loadedmetadata", seekAndPlay, { once: true });
      player.load();
    } else {
      seekAndPlay();
    }
  }

  player.addEventListener("timeupdate", function () {
    if (current < 0) return;
    if (player.currentTime >= Number(clips[current].dataset.end)) {
      player.pause();
      play(continuous ? current + 1 : -1);
    }
  });
  player.addEventListener("ended", function () { if (current >= 0) play(continuous ? current + 1 : -1); });

  document.getElementById("play-all").addEventListener("click", function () { continuous = true; play(0); });
  clips.forEach(function (li, index) {
    li.querySelector(".play-clip").addEventListener("click", function () { continuous = false; play(index); });
  });
})();
