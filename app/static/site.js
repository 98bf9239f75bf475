// Small behaviours of every page, loaded by base.html; no inline scripts (the CSP allows only files from 'self').
(function () {
  "use strict";
  // A form, or the submit button pressed, with data-confirm asks first (event delegation: htmx replaces
  // the boards' forms while polling). The button's question wins: a form may have a button that needs none.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var button = event.submitter;
    var question = (button && button.getAttribute && button.getAttribute("data-confirm")) ||
                   (form && form.getAttribute && form.getAttribute("data-confirm"));
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });
  // A select with data-fill="ID" puts the chosen option's value into the text area ID (the white cell's
  // suggested replies), to be edited before sending; the empty first option leaves the text alone.
  document.addEventListener("change", function (event) {
    var select = event.target;
    var target = select && select.getAttribute && select.getAttribute("data-fill");
    var area = target && document.getElementById(target);
    if (area && select.value) {
      area.value = select.value;
      area.focus();
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
