// A form whose action cannot be taken back asks first: <form data-confirm="Approve this change?">.
// Without JavaScript the form still works, unasked (the server checks everything anyway).
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });
})();
