// Staff: upload with a progress bar, then follow the job live until its talk is ready.
(function () {
  "use strict";

  // ---- Upload: the form works without this; with it, the upload shows its progress ----
  var form = document.getElementById("upload-form");
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
        percent.textContent = bar.value + "%";
      });
      xhr.addEventListener("load", function () {
        if (xhr.status < 400) { window.location.assign(xhr.responseURL); return; }
        var page = new DOMParser().parseFromString(xhr.responseText, "text/html");
        var message = page.querySelector("#upload-error") || page.querySelector("main p");
        showError(message ? message.textContent : "The upload failed (" + xhr.status + ").");
      });
      xhr.addEventListener("error", function () { showError("The upload was interrupted. Check the connection and try again."); });
      function showError(text) {
        var notice = document.getElementById("upload-error");
        if (!notice) {
          notice = document.createElement("p");
          notice.id = "upload-error";
          notice.className = "notice error";
          notice.setAttribute("role", "alert");
          form.parentNode.insertBefore(notice, form);
        }
        notice.textContent = text;
        box.hidden = true;
        submit.disabled = false;
      }
      box.hidden = false;
      submit.disabled = true;
      xhr.send(new FormData(form));
    });
  }

  // ---- A job's page: poll its state until it is done or failed ----
  var job = document.getElementById("job");
  if (!job) return;
  var el = function (id) { return document.getElementById(id); };

  function show(data) {
    job.dataset.state = data.state;
    el("job-state").textContent = data.state;
    el("job-state").className = "state state-" + data.state;
    el("job-bar").value = data.percent;
    el("job-percent").textContent = Math.round(data.percent) + "%";
    el("job-error").hidden = !data.error;
    el("job-error").textContent = data.error || "";
    el("job-retry").hidden = data.state !== "failed";
    el("job-hint").hidden = data.state === "done" || data.state === "failed";
    if (data.state === "done" && data.recording_url) {
      el("job-link").href = data.recording_url;
      el("job-link").textContent = "open the talk";
      el("job-done").hidden = false;
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
