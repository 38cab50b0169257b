// A form the server sent back refused: its message is by the form's button (in a <details>, opened);
// bring it into view and give it the focus, so the person who pressed the button sees why at once.
(function () {
  "use strict";
  var notice = document.querySelector("[data-refusal]");
  if (!notice) return;
  for (var el = notice.parentElement; el; el = el.parentElement) {
    if (el.tagName === "DETAILS") el.open = true;
  }
  function show() {
    notice.scrollIntoView({ block: "center" });
    notice.focus({ preventScroll: true });
  }
  show();
  // Once media and pictures have their size, again, unless the person has moved on.
  window.addEventListener("load", function () { if (document.activeElement === notice) show(); });
})();
