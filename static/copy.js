// A "Copy" button beside a read-only field: <button data-copy="review-url">Copy link</button>.
// It copies the field's value and says so in the status line next to it.
(function () {
  "use strict";
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var field = document.getElementById(button.dataset.copy);
    var status = document.getElementById(button.dataset.copy + "-status");
    if (!field) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      function said(text) { if (status) status.textContent = text; }
      field.select();
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(function () { said("Copied."); },
          function () { said("Press Ctrl+C (or ⌘C) to copy the selected link."); });
      } else {
        said(document.execCommand("copy") ? "Copied." : "Press Ctrl+C (or ⌘C) to copy the selected link.");
      }
    });
  });
})();
