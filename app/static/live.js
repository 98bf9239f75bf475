// Small behaviours of the instructor pages; no inline scripts (the CSP allows only files from 'self').
(function () {
  "use strict";
  // A form with data-confirm asks first (event delegation: htmx replaces the boards' forms while polling).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form && form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });
  // A button with data-print prints the page (the one-time password slips).
  document.addEventListener("click", function (event) {
    var button = event.target && event.target.closest && event.target.closest("[data-print]");
    if (button) {
      event.preventDefault();
      window.print();
    }
  });
})();
