// The report editor: a live character counter beside the text (site.js asks before handing in).
// The server refuses a text over the limit whole (nothing is cut); this only says so while typing.
(function () {
  "use strict";
  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (all, name) { return String(values[name]); });
  }
  // Counted as the server counts: code points (not UTF-16 units), line ends as one character.
  function length(text) {
    return Array.from(text.replace(/\r\n/g, "\n")).length;
  }
  document.querySelectorAll("textarea[data-max-chars]").forEach(function (area) {
    var max = parseInt(area.getAttribute("data-max-chars"), 10);
    var counter = document.getElementById(area.getAttribute("aria-describedby") || "");
    if (!counter || !counter.hasAttribute("data-ok")) {
      counter = document.getElementById("report-counter");
    }
    if (!counter) {
      return;
    }
    function update() {
      var count = length(area.value);
      var over = count > max;
      counter.textContent = fill(counter.getAttribute(over ? "data-over" : "data-ok"),
                                 {count: count, max: max, excess: count - max});
      counter.classList.toggle("errors-inline", over);  // the red of an error beside a field
    }
    area.addEventListener("input", update);
    update();
  });
})();
