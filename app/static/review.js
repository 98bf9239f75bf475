// Charts of the review: every <script type="application/json" data-canvas="ID"> holds one chart's data
// (built by app/web/review.py::_chart); drawn with the vendored Chart.js (global `Chart`).
(function () {
  "use strict";

  var COLOURS = ["#1d5fa8", "#b3261e", "#1e7b34", "#b86e00", "#6a3d9a", "#00838f", "#c2185b", "#5d4037",
                 "#455a64", "#827717"];

  function clock(minutes, days) {
    // "Day N HH:MM" for minutes since day 1 began, using the days' start minutes.
    var day = days.length ? days[0] : {start: 0, label: ""};
    for (var i = 0; i < days.length; i++) {
      if (minutes >= days[i].start) { day = days[i]; }
    }
    var within = Math.max(0, Math.round(minutes - day.start));
    var hh = String(Math.floor(within / 60)).padStart(2, "0");
    var mm = String(within % 60).padStart(2, "0");
    return (day.label ? day.label + " " : "") + hh + ":" + mm;
  }

  function draw(holder) {
    var canvas = document.getElementById(holder.dataset.canvas);
    if (!canvas || typeof Chart === "undefined") { return; }
    var data = JSON.parse(holder.textContent);
    new Chart(canvas, {
      type: "line",
      data: {
        datasets: data.series.map(function (line, index) {
          var colour = COLOURS[index % COLOURS.length];
          return {label: line.label, data: line.points, stepped: "before", borderColor: colour,
                  backgroundColor: colour, pointRadius: 1.5, borderWidth: 2};
        })
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        parsing: true,
        interaction: {mode: "nearest", intersect: false},
        scales: {
          x: {type: "linear", min: 0, title: {display: true, text: data.x_title},
              ticks: {callback: function (value) { return clock(value, data.days); }}},
          y: {title: {display: true, text: data.y_title}}
        },
        plugins: {
          legend: {display: data.series.length > 1, position: "bottom"},
          tooltip: {callbacks: {title: function (items) { return items.length ? clock(items[0].parsed.x, data.days) : ""; }}}
        }
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll('script[type="application/json"][data-canvas]').forEach(draw);
  });
})();
