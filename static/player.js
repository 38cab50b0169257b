// The recording page: start at ?t= or #t= (stopping at &end= for a clip), follow along in the
// transcript, seek from it, find words in it, copy links to moments, share clips with a
// citation, and show related moments in other talks. Plain JavaScript, no libraries.
(function () {
  "use strict";
  var article = document.getElementById("recording");
  var player = document.getElementById("player");
  var transcript = document.getElementById("transcript");
  if (!article || !player || !transcript) return;

  var items = Array.prototype.slice.call(transcript.querySelectorAll("li[data-start]"));
  var starts = items.map(function (li) { return parseFloat(li.dataset.start); });
  var statusLine = document.getElementById("status");
  var duration = parseFloat(article.dataset.duration) || 0;

  // ---- Times --------------------------------------------------------------------
  // The forms archive/core/timecode.py reads: 754, 754.5, 12:34, 1:02:03, 12m34s, 1h02m03s.
  function parseTime(value) {
    if (!value) return null;
    value = String(value).trim().toLowerCase();
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

  function clock(seconds) {
    var s = Math.max(0, Math.floor(seconds));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return h ? h + ":" + pad(m) + ":" + pad(sec) : m + ":" + pad(sec);
  }

  // exact: a segment's start as stored (archive/core/timecode.py link_time); otherwise whole seconds.
  function momentUrl(start, end, exact) {
    var url = new URL(article.dataset.url);
    url.searchParams.set("t", exact ? String(+start.toFixed(3)) : String(Math.floor(start)));
    if (end !== null && end !== undefined) url.searchParams.set("end", String(Math.ceil(end)));
    return url.href;
  }

  function say(message) { statusLine.textContent = message; }

  // ---- Where to start, and where a clip stops -------------------------------------
  // The server has read ?t= and &end=; #t= (links from other players) only the page can see.
  function fromHash(name) {
    return parseTime(new URLSearchParams(window.location.hash.replace(/^#/, "")).get(name));
  }
  function valid(seconds) { return seconds !== null && !isNaN(seconds) && (!duration || seconds <= duration) ? seconds : null; }
  var start = article.dataset.start ? parseFloat(article.dataset.start) : valid(fromHash("t"));
  var clipEnd = article.dataset.end ? parseFloat(article.dataset.end) : valid(fromHash("end"));
  if (clipEnd !== null && clipEnd <= (start || 0)) clipEnd = null;

  function seek(seconds, play) {
    var go = function () {
      player.currentTime = seconds;
      if (play) player.play().catch(function () {});
    };
    if (player.readyState >= 1) go(); else player.addEventListener("loadedmetadata", go, { once: true });
  }

  if (start !== null) seek(start, false);
  window.addEventListener("hashchange", function () {
    var t = valid(fromHash("t"));
    if (t !== null) seek(t, true);
    unfoldTo(window.location.hash);
  });

  // A link to a part inside folded sections (#review in the staff tools) opens them and shows it.
  function unfoldTo(hash) {
    if (!/^#[A-Za-z][\w-]*$/.test(hash)) return;  // #t=... is a time, handled above
    var target = document.getElementById(hash.slice(1));
    if (!target) return;
    for (var folded = target.closest("details"); folded; folded = folded.parentElement.closest("details")) {
      folded.open = true;
    }
    target.scrollIntoView();
  }
  unfoldTo(window.location.hash);

  function checkClipEnd() {
    if (clipEnd === null) return;
    if (player.currentTime >= clipEnd) {
      player.pause();
      player.currentTime = clipEnd;
      clipEnd = null; // the clip has been played; from here on the talk plays normally
      say("End of the clip.");
    } else if (!player.paused) {
      window.requestAnimationFrame(checkClipEnd); // finer than timeupdate's quarter seconds
    }
  }
  player.addEventListener("play", checkClipEnd);

  // ---- Following along ----------------------------------------------------------
  var current = transcript.querySelector("li.current");
  var following = true;
  var expectedScroll = null;
  var followButton = document.getElementById("follow");

  function indexAt(t) {
    var lo = 0, hi = starts.length - 1, found = -1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (starts[mid] <= t + 1e-3) { found = mid; lo = mid + 1; } else hi = mid - 1;
    }
    return found;
  }

  // Where the transcript scrolls: in its own box on a wide screen; on a phone it flows in the page
  // under the sticky player (style.css), so the page scrolls, and the line goes below the player.
  var stage = document.querySelector(".stage");
  function flowsInPage() { return window.getComputedStyle(transcript).overflowY === "visible"; }
  function scrollPosition() { return flowsInPage() ? window.scrollY : transcript.scrollTop; }
  function lineTop(li) {
    // The line's top in the scroller's coordinates, and the visible height beside the player.
    if (!flowsInPage()) return { top: li.offsetTop, height: transcript.clientHeight };
    var covered = stage && window.getComputedStyle(stage).position === "sticky" ? stage.offsetHeight : 0;
    return { top: li.getBoundingClientRect().top + window.scrollY - covered, height: window.innerHeight - covered };
  }
  function scrollTo(position) {
    expectedScroll = Math.max(0, Math.round(position));
    if (flowsInPage()) window.scrollTo(0, expectedScroll); else transcript.scrollTop = expectedScroll;
  }
  function scrollToCurrent() {
    if (!current || current.hidden) return;
    var where = lineTop(current);
    var top = where.top - where.height / 3;
    scrollTo(flowsInPage() ? top : Math.min(top, transcript.scrollHeight - transcript.clientHeight));
  }

  // A scroll we did not make is the reader's: stop following until they ask for it again.
  function readerScrolled() {
    if (expectedScroll !== null && Math.abs(scrollPosition() - expectedScroll) <= 2) return;
    expectedScroll = null;
    if (following && !player.paused) {
      following = false;
      followButton.hidden = false;
    }
  }
  transcript.addEventListener("scroll", readerScrolled);
  window.addEventListener("scroll", function () { if (flowsInPage()) readerScrolled(); });

  function follow() {
    following = true;
    followButton.hidden = true;
    scrollToCurrent();
  }
  followButton.addEventListener("click", follow);

  var relatedTimer = null;
  function update() {
    var i = indexAt(player.currentTime);
    var found = i >= 0 ? items[i] : null;
    if (found === current) return;
    if (current) { current.classList.remove("current"); current.removeAttribute("aria-current"); }
    if (found) { found.classList.add("current"); found.setAttribute("aria-current", "true"); }
    current = found;
    if (following) scrollToCurrent();
    window.clearTimeout(relatedTimer);
    relatedTimer = window.setTimeout(function () { loadRelated(player.currentTime); }, 700);
  }
  player.addEventListener("timeupdate", update);
  player.addEventListener("seeked", update);

  // ---- Seeking from the transcript ----------------------------------------------
  transcript.addEventListener("click", function (event) {
    if (transcript.classList.contains("editing")) return;
    var li = event.target.closest("li[data-start]");
    if (!li) return;
    var copyButton = event.target.closest("button.seg-copy");
    var seconds = parseFloat(li.dataset.start);
    if (copyButton) {
      copy(momentUrl(seconds, null, true), "Link to " + clock(seconds));
      return;
    }
    var onTime = event.target.closest("a.time");
    if (!onTime && (event.target.closest("button") || String(window.getSelection()).length)) return;
    event.preventDefault();
    history.replaceState(null, "", "?t=" + String(+seconds.toFixed(3)));
    following = true;
    followButton.hidden = true;
    seek(seconds, true);
  });
  if (current) window.requestAnimationFrame(scrollToCurrent);

  // ---- The transcript from the keyboard: one tab stop, arrow keys inside ---------------
  // Tab reaches the transcript once (not twice a line); Up/Down/Home/End move between lines,
  // Enter or Space plays from the line, C copies a link to it. The line's own buttons show on focus.
  transcript.tabIndex = 0;
  transcript.setAttribute("aria-label", "Transcript: arrow keys move between lines, Enter plays from a line, C copies its link");
  items.forEach(function (li) {
    li.tabIndex = -1;
    li.querySelectorAll("a, button").forEach(function (el) { el.tabIndex = -1; });
  });
  function focusLine(li) {
    if (!li) return;
    li.focus({ preventScroll: true });
    var where = lineTop(li), seen = scrollPosition();
    if (where.top < seen || where.top > seen + where.height - li.offsetHeight) scrollTo(where.top - where.height / 3);
  }
  transcript.addEventListener("focus", function (event) {
    if (event.target === transcript && !transcript.classList.contains("editing")) focusLine(current || items[0]);
  });
  transcript.addEventListener("keydown", function (event) {
    if (transcript.classList.contains("editing")) return;
    var li = event.target.closest("li[data-start]");
    var i = li ? items.indexOf(li) : -1;
    var next = null;
    if (event.key === "ArrowDown") next = items[Math.min(i + 1, items.length - 1)];
    else if (event.key === "ArrowUp") next = items[Math.max(i - 1, 0)];
    else if (event.key === "Home") next = items[0];
    else if (event.key === "End") next = items[items.length - 1];
    else if (li && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      li.querySelector("a.time").click();
      return;
    } else if (li && (event.key === "c" || event.key === "C") && !event.ctrlKey && !event.metaKey) {
      copy(momentUrl(parseFloat(li.dataset.start), null, true), "Link to " + clock(parseFloat(li.dataset.start)));
      return;
    } else return;
    event.preventDefault();
    focusLine(next);
  });
  // Arriving at a moment (?t=), the line landed on has the focus: Tab goes on from there. On a
  // narrow screen the page scrolls to the player, with the transcript (at that line) right under it.
  if (current && start !== null) {
    window.requestAnimationFrame(function () {
      current.focus({ preventScroll: true });
      if (window.matchMedia("(max-width: 60rem)").matches) document.querySelector(".stage").scrollIntoView({ block: "start" });
    });
  }

  // ---- Slides, chapters and chat beside the transcript: their times seek here, the slide on
  // screen and the chapter playing are marked
  function markPlaying(selector, attribute) {
    var marked = Array.prototype.slice.call(document.querySelectorAll(selector));
    if (!marked.length) return;
    var playing = null;
    var update = function () {
      var found = null;
      marked.forEach(function (li) { if (parseFloat(li.getAttribute(attribute)) <= player.currentTime + 0.5) found = li; });
      if (found === playing) return;
      if (playing) { playing.classList.remove("current"); playing.removeAttribute("aria-current"); }
      if (found) { found.classList.add("current"); found.setAttribute("aria-current", "true"); }
      playing = found;
    };
    player.addEventListener("timeupdate", update);
    player.addEventListener("seeked", update);
  }
  // The chapters' marks on the bar under the player (placed here: the page allows no inline styles).
  var chapterBar = document.querySelector(".chapter-bar");
  if (chapterBar && duration) {
    chapterBar.querySelectorAll("a[data-start]").forEach(function (mark) {
      var percent = 100 * parseFloat(mark.dataset.start) / duration;
      mark.style.left = percent.toFixed(2) + "%";
      if (percent > 60) mark.classList.add("late");  // its title opens leftwards, inside the page
    });
    chapterBar.hidden = false;
  }
  markPlaying(".slide-list > li[data-at]", "data-at");
  markPlaying(".chapter-list > li[data-start]", "data-start");
  document.addEventListener("click", function (event) {
    var link = event.target.closest(".slide-list a.time, .chat-list a.time, .resources a.time, .slide-mark a, " +
      ".chapter-list a.time, .chapter-bar a");
    if (!link) return;
    var seconds = parseTime(new URL(link.href).searchParams.get("t"));
    if (seconds === null) return;
    event.preventDefault();
    history.replaceState(null, "", "?t=" + String(+seconds.toFixed(3)));
    following = true;
    followButton.hidden = true;
    seek(seconds, true);
  });

  // ---- Copying ------------------------------------------------------------------
  function copy(text, what) {
    var done = function () { say(what + " copied: " + text); };
    var fallback = function () {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      document.body.removeChild(area);
      if (ok) done(); else say("Copy this: " + text);
    };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done, fallback);
    else fallback();
  }

  document.getElementById("copy-moment").addEventListener("click", function () {
    copy(momentUrl(player.currentTime), "Link to " + clock(player.currentTime));
  });

  // ---- Sharing a clip with a citation ---------------------------------------------
  var dialog = document.getElementById("share");
  var shareStart = document.getElementById("share-start");
  var shareEnd = document.getElementById("share-end");
  var shareLink = document.getElementById("share-link");
  var shareCitation = document.getElementById("share-citation");
  var shareEmbed = document.getElementById("share-embed");
  var shareQr = document.getElementById("share-qr");
  var shareError = document.getElementById("share-error");

  function speakerAt(seconds) {  // who says the line at that time, where a meeting transcript named them
    var said = null;
    items.forEach(function (li) { if (Number(li.dataset.start) <= seconds + 0.001) said = li.dataset.speaker || null; });
    return said;
  }

  function citation(from, to, url) {
    var d = article.dataset, parts = [];
    var speaker = speakerAt(from);
    if (speaker) parts.push(speaker + (d.speakers && d.speakers.indexOf(speaker) < 0 ? " (in a talk by " + d.speakers + ")." : "."));
    else if (d.speakers) parts.push(d.speakers + ".");
    parts.push("\u201c" + d.title + ".\u201d");
    var where = [d.organization, d.date].filter(Boolean).join(", ");
    if (where) parts.push(where + ".");
    parts.push("Recording, " + (to === null ? "at " + clock(from) : clock(from) + "\u2013" + clock(to)) + ".");
    parts.push(url);
    return parts.join(" ");
  }

  // A start in whole seconds is enough: the archive reads ?t=66 as the line starting in that second.
  function refreshShare() {
    var from = parseTime(shareStart.value);
    var to = shareEnd.value.trim() ? parseTime(shareEnd.value) : null;
    var problem = "";
    if (from === null) problem = "Write the start as 12:34, 1:02:03 or 1h02m03s.";
    else if (shareEnd.value.trim() && to === null) problem = "Write the end as 12:34, 1:02:03 or 1h02m03s, or leave it empty.";
    else if (to !== null && to <= from) problem = "The end must come after the start.";
    else if (duration && (from > duration || (to !== null && to > duration + 1))) problem = "The talk is only " + clock(duration) + " long.";
    shareError.textContent = problem;
    if (problem) { shareLink.value = ""; shareCitation.value = ""; if (shareEmbed) shareEmbed.value = ""; shareQr.hidden = true; return; }
    var url = momentUrl(from, to);
    shareLink.value = url;
    shareQr.src = "/qr.svg?url=" + encodeURIComponent(url);
    shareQr.hidden = false;
    shareCitation.value = citation(Math.floor(from), to === null ? null : Math.ceil(to), url);
    if (shareEmbed) {  // the same moment in the compact player other sites may frame (a public talk only)
      var embedUrl = new URL(shareEmbed.dataset.embedUrl);
      embedUrl.searchParams.set("t", String(Math.floor(from)));
      if (to !== null) embedUrl.searchParams.set("end", String(Math.ceil(to)));
      shareEmbed.value = '<iframe src="' + embedUrl.href + '" width="640" height="400" title="' +
        article.dataset.title.replace(/&/g, "&amp;").replace(/"/g, "&quot;") + '" style="border:0" allow="fullscreen" loading="lazy"></iframe>';
    }
  }

  document.getElementById("open-share").addEventListener("click", function () {
    shareStart.value = clock(player.currentTime);
    shareEnd.value = "";
    refreshShare();
    dialog.showModal();
  });
  document.getElementById("share-now").addEventListener("click", function () {
    shareEnd.value = clock(Math.ceil(player.currentTime));
    refreshShare();
  });
  shareStart.addEventListener("input", refreshShare);
  shareEnd.addEventListener("input", refreshShare);
  document.getElementById("copy-link").addEventListener("click", function () {
    if (shareLink.value) copy(shareLink.value, "Link");
  });
  document.getElementById("copy-citation").addEventListener("click", function () {
    if (shareCitation.value) copy(shareCitation.value, "Citation");
  });
  if (shareEmbed) {
    document.getElementById("copy-embed").addEventListener("click", function () {
      if (shareEmbed.value) copy(shareEmbed.value, "Embed code");
    });
  }

  // ---- Finding words in this talk --------------------------------------------------
  var find = document.getElementById("find");
  var findCount = document.getElementById("find-count");
  var findTimer = null;

  function markMatches(span, text, ranges) {
    var fragment = document.createDocumentFragment(), at = 0;
    ranges.forEach(function (r) {
      fragment.appendChild(document.createTextNode(text.slice(at, r[0])));
      var mark = document.createElement("mark");
      mark.textContent = text.slice(r[0], r[1]);
      fragment.appendChild(mark);
      at = r[1];
    });
    fragment.appendChild(document.createTextNode(text.slice(at)));
    span.replaceChildren(fragment);
  }

  function applyFind() {
    var words = find.value.toLowerCase().split(/\s+/).filter(Boolean);
    var shown = 0;
    items.forEach(function (li) {
      var span = li.querySelector(".text");
      var text = span.textContent, lower = text.toLowerCase();
      var ranges = [];
      var all = words.every(function (word) {
        var i = lower.indexOf(word), any = i >= 0;
        while (i >= 0) { ranges.push([i, i + word.length]); i = lower.indexOf(word, i + word.length); }
        return any;
      });
      li.hidden = words.length > 0 && !all;
      if (!li.hidden) shown++;
      ranges.sort(function (a, b) { return a[0] - b[0]; });
      var merged = [];
      ranges.forEach(function (r) {
        var last = merged[merged.length - 1];
        if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]); else merged.push(r.slice());
      });
      if (merged.length || span.querySelector("mark")) markMatches(span, text, all ? merged : []);
    });
    findCount.textContent = words.length ? (shown ? shown + " of " + items.length + " lines" : "Not said in this talk") : "";
  }
  find.addEventListener("input", function () {
    window.clearTimeout(findTimer);
    findTimer = window.setTimeout(applyFind, 120);
  });
  find.addEventListener("keydown", function (event) {
    if (event.key !== "Enter") return;
    event.preventDefault();
    applyFind();
    var first = items.filter(function (li) { return !li.hidden; })[0];
    if (first && find.value.trim()) seek(parseFloat(first.dataset.start), true);
  });

  // ---- Related moments in other talks ---------------------------------------------
  var related = document.getElementById("related");
  var relatedHint = document.getElementById("related-hint");
  var relatedAt = null;

  function loadRelated(at) {
    if (relatedAt !== null && Math.abs(at - relatedAt) < 15) return;
    relatedAt = at;
    fetch(article.dataset.relatedUrl + "?t=" + Math.floor(at), { headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) { if (data && relatedAt === at) showRelated(data.results); })
      .catch(function () {});
  }

  function showRelated(moments) {
    related.replaceChildren();
    relatedHint.textContent = moments.length
      ? "Moments elsewhere in the archive close to what is being said at " + clock(relatedAt) + "."
      : "Nothing in the other talks is close to this part.";
    // One entry per talk, its moments under it (in the order the search ranked them).
    var byTalk = {};
    moments.forEach(function (m) {
      var group = byTalk[m.slug];
      if (!group) {
        var li = document.createElement("li");
        li.className = "related-talk";
        var title = document.createElement("span");
        title.className = "talk-title";
        title.textContent = m.title;
        var list = document.createElement("ul");
        li.append(title, list);
        related.appendChild(li);
        group = byTalk[m.slug] = list;
      }
      var item = document.createElement("li");
      var link = document.createElement("a");
      link.href = m.url;
      var time = document.createElement("span");
      time.className = "time";
      time.textContent = clock(m.start);
      link.append(time, " ", m.text);
      item.appendChild(link);
      group.appendChild(item);
    });
  }
  loadRelated(start || 0);
})();
