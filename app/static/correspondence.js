// The team's message forms (teams/compose.html, teams/thread.html): only the chosen character's requests are
// offered, and only the chosen request's parameters show. Without this script every request shows, labelled.
(function () {
  "use strict";

  function chosenCharacter(form) {
    var radio = form.querySelector('input[name="to"]:checked');
    return radio ? radio.value : (form.dataset.character || "");
  }

  function sync(form) {
    var select = form.querySelector('select[name="request"]');
    if (!select) { return; }
    var to = chosenCharacter(form);
    var offered = 0;
    select.querySelectorAll("optgroup").forEach(function (group) {
      var mine = group.dataset.character === to;
      group.hidden = !mine;
      group.disabled = !mine;
      if (mine) { offered += group.querySelectorAll("option").length; }
    });
    var picked = select.options[select.selectedIndex];
    if (picked && picked.parentElement.tagName === "OPTGROUP" && picked.parentElement.disabled) {
      select.value = "";
    }
    form.querySelectorAll("fieldset[data-request]").forEach(function (set) {
      set.hidden = set.dataset.request !== select.value;
    });
    var choice = form.querySelector("[data-request-choice]");
    if (choice) { choice.hidden = offered === 0; }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-compose]").forEach(function (form) {
      form.addEventListener("change", function () { sync(form); });
      sync(form);
    });
  });
})();
