// Recording page: start at ?t= or #t=, seek when a transcript time is clicked, follow along.
(function () {
  "use strict";
  var player = document.getElementById("player");
  var transcript = document.getElementById("transcript");
  if (!player || !transcript) return;

  // Accepts 754, 754.5, 12:34, 1:02:03, 12m34s, 1h02m03s. Anything else: null.
  function parseTime(value) {
    if (!value) return null;
    value = value.trim();
    var m;
    if (/^\d+(\.\d+)?$/.test(value)) return parseFloat(value);
    if ((m = /^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)$/.exec(value))) {
      return (+(m[1] || 0)) * 3600 + (+m[2]) * 60 + parseFloat(m[3]);
    }
    if ((m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$/.exec(value)) && (m[1] || m[2] || m[3])) {
      return (+(m[1] || 0)) * 3600 + (+(m[2] || 0)) * 60 + parseFloat(m[3] || 0);
    }
    return null;
  }

  function startTime() {
    var params = new URLSearchParams(window.location.search);
    var hash = new URLSearchParams(window.location.hash.replace(/^#/, ""));
    return parseTime(params.get("t")) ?? parseTime(hash.get("t"));
  }

  function seek(seconds) {
    if (seconds === null) return;
    var go = function () { player.currentTime = seconds; };
    if (player.readyState >= 1) go(); else player.addEventListener("loadedmetadata", go, { once: true });
  }

  seek(startTime());

  transcript.addEventListener("click", function (event) {
    var link = event.target.closest("a.time");
    if (!link) return;
    event.preventDefault();
    var seconds = parseFloat(link.closest("li").dataset.start);
    history.replaceState(null, "", "?t=" + Math.floor(seconds));
    player.currentTime = seconds;
    player.play();
  });

  var items = Array.prototype.slice.call(transcript.querySelectorAll("li[data-start]"));
  var current = null;
  player.addEventListener("timeupdate", function () {
    var t = player.currentTime, found = null;
    for (var i = 0; i < items.length; i++) {
      if (parseFloat(items[i].dataset.start) <= t) found = items[i]; else break;
    }
    if (found === current) return;
    if (current) current.classList.remove("current");
    if (found) found.classList.add("current");
    current = found;
  });
})();
