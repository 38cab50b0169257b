// The embedded player: start at ?t=, stop at &end=, follow along in the transcript, seek from it.
(function () {
  "use strict";
  var root = document.getElementById("embed");
  var player = document.getElementById("player");
  var transcript = document.getElementById("transcript");
  if (!root || !player || !transcript) return;
  var items = Array.prototype.slice.call(transcript.querySelectorAll("li[data-start]"));
  var start = root.dataset.start ? parseFloat(root.dataset.start) : null;
  var end = root.dataset.end ? parseFloat(root.dataset.end) : null;
  var current = transcript.querySelector("li.current");

  function seek(seconds, play) {
    var go = function () { player.currentTime = seconds; if (play) player.play().catch(function () {}); };
    if (player.readyState >= 1) go(); else player.addEventListener("loadedmetadata", go, { once: true });
  }
  if (start !== null) seek(start, false);
  if (current) transcript.scrollTop = current.offsetTop - transcript.clientHeight / 3;

  player.addEventListener("timeupdate", function () {
    if (end !== null && player.currentTime >= end) { player.pause(); player.currentTime = end; end = null; }
    var found = null;
    items.forEach(function (li) { if (parseFloat(li.dataset.start) <= player.currentTime + 1e-3) found = li; });
    if (found === current) return;
    if (current) current.classList.remove("current");
    if (found) { found.classList.add("current"); transcript.scrollTop = found.offsetTop - transcript.clientHeight / 3; }
    current = found;
  });
  transcript.addEventListener("click", function (event) {
    var li = event.target.closest("li[data-start]");
    if (!li) return;
    event.preventDefault();
    end = null;
    seek(parseFloat(li.dataset.start), true);
  });
})();
