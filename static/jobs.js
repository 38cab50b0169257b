// Staff: upload with a progress bar, then follow the job live until its talk is ready.
(function () {
  "use strict";

  function megabytes(bytes) { return bytes >= 1e9 ? (bytes / 1e9).toFixed(1) + " GB" : Math.max(1, Math.round(bytes / 1e6)) + " MB"; }

  // ---- Upload: the form works without this; with it, the upload shows its progress ----
  var form = document.getElementById("upload-form");
  function unmark(field) {
    field.removeAttribute("aria-invalid");
    field.removeAttribute("aria-describedby");
  }
  // A field marked wrong is unmarked once it is changed.
  if (form) {
    form.addEventListener("change", function (event) {
      if (event.target.hasAttribute("aria-invalid")) unmark(event.target);
    });
  }
  if (form && window.XMLHttpRequest && window.FormData) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var box = document.getElementById("upload-progress");
      var bar = document.getElementById("upload-bar");
      var percent = document.getElementById("upload-percent");
      var submit = form.querySelector("button[type=submit]");
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.upload.addEventListener("progress", function (e) {
        if (!e.lengthComputable) return;
        bar.value = Math.round((100 * e.loaded) / e.total);
        percent.textContent = bar.value + "% of " + megabytes(e.total);
      });
      // All sent: the server now checks the file (and its companions) before queuing it.
      xhr.upload.addEventListener("load", function () { percent.textContent = "sent; checking the file…"; });
      xhr.addEventListener("load", function () {
        if (xhr.status < 400) { window.location.assign(xhr.responseURL); return; }
        var page = new DOMParser().parseFromString(xhr.responseText, "text/html");
        var message = page.querySelector("#upload-error") || page.querySelector("main p");
        // The server's page marks the field that is wrong; a file over the size limit is the recording.
        var wrong = page.querySelector("#upload-form [aria-invalid=true]");
        showError(message ? message.textContent : "The upload failed (" + xhr.status + ").",
                  wrong ? wrong.name : (xhr.status === 413 ? "media" : null));
      });
      xhr.addEventListener("error", function () { showError("The upload was interrupted. Check the connection and try again."); });
      // The message goes by the button just pressed, where the person is looking, and takes the focus;
      // the field it is about is marked (and keeps its file: this page was not reloaded).
      function showError(text, field) {
        var notice = document.getElementById("upload-error");
        if (!notice) {
          notice = document.createElement("p");
          notice.id = "upload-error";
          notice.className = "notice error refusal";
          notice.setAttribute("role", "alert");
          notice.tabIndex = -1;
        }
        if (!form.contains(notice)) submit.parentNode.insertBefore(notice, submit);
        var again = document.getElementById("choose-again");  // a page sent back lost its files; this one did not
        if (again) again.hidden = true;
        notice.textContent = text;
        markWrong(field);
        box.hidden = true;
        submit.disabled = false;
        notice.scrollIntoView({ block: "center" });
        notice.focus({ preventScroll: true });
      }
      function markWrong(field) {
        Array.prototype.forEach.call(form.querySelectorAll("[aria-invalid]"), unmark);
        var wrong = field && form.elements.namedItem(field);
        if (wrong && wrong.setAttribute) {
          wrong.setAttribute("aria-invalid", "true");
          wrong.setAttribute("aria-describedby", "upload-error");
        }
      }
      box.hidden = false;
      submit.disabled = true;
      percent.textContent = "starting…";
      xhr.send(new FormData(form));
    });
  }

  // ---- A job's page: poll its state until it is done or failed ----
  var job = document.getElementById("job");
  if (!job) return;
  var el = function (id) { return document.getElementById(id); };

  // How long is left: the worker reckons it from the speeds this machine measured on earlier
  // ingests (the same words as the page's time_left filter).
  function estimate(secondsLeft) {
    if (secondsLeft === null || secondsLeft === undefined) return "";
    var left = Math.round(secondsLeft / 60);
    return left < 1 ? "(under a minute left)" : "(about " + left + " minute" + (left > 1 ? "s" : "") + " left)";
  }

  // The steps, each done, current, waiting (or where a failed job stopped).
  function showSteps(steps) {
    var items = el("job-steps").children;
    (steps || []).forEach(function (step, i) {
      if (!items[i]) return;
      items[i].dataset.state = step.state;
      items[i].lastElementChild.textContent = ": " + step.state;
      if (step.state === "current") items[i].setAttribute("aria-current", "step");
      else items[i].removeAttribute("aria-current");
    });
  }

  function show(data) {
    job.dataset.state = data.state;
    el("job-state").textContent = data.state;
    el("job-state").className = "state state-" + data.state;
    el("job-bar").value = data.percent;
    el("job-percent").textContent = Math.round(data.percent) + "%";
    el("job-step").textContent = data.state === "running" ? (data.step || "") : (data.state === "queued" ? "waiting for a worker" : "");
    el("job-eta").textContent = data.state === "running" ? estimate(data.seconds_left) : "";
    showSteps(data.steps);
    el("job-error").hidden = !data.error;
    el("job-error").textContent = data.error || "";
    el("job-retry").hidden = data.state !== "failed";
    el("job-hint").hidden = data.state === "done" || data.state === "failed";
    if (data.state === "done" && data.recording_url) {
      el("job-link").href = data.recording_url;
      el("job-link").textContent = "open the talk";
      el("job-done").hidden = false;
      if (data.already_in_archive) {  // stay: what was typed was not used, and staff should know
        el("job-already").hidden = false;
        el("job-edit").href = data.recording_url + "/edit";
        return;
      }
      var gaps = data.speech_gaps || [];
      if (gaps.length) {  // stay, so staff read that speech went untranscribed
        el("job-gaps").textContent = gaps.length + (gaps.length > 1 ? " stretches" : " stretch") +
          " of speech got no text: the talk page lists them for a listen.";
        el("job-gaps").hidden = false;
        return;
      }
      window.setTimeout(function () { window.location.assign(data.recording_url); }, 600);
    }
  }

  function poll() {
    if (job.dataset.state !== "queued" && job.dataset.state !== "running") return;
    fetch(job.dataset.apiUrl, { headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) { if (data) show(data); })
      .catch(function () {})
      .then(function () { window.setTimeout(poll, 1000); });
  }
  window.setTimeout(poll, 500);
})();
