/* Tiếp Dân admin: charts from the server's figures, and small helpers. No inline script is
   allowed by the Content-Security-Policy, so everything the pages need is here. */
(function () {
  "use strict";

  var PALETTE = ["#1d4ed8", "#b91c1c", "#047857", "#a16207", "#7c3aed", "#0e7490", "#be185d", "#4b5563"];

  function drawCharts() {
    if (!window.Chart) { return; }
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var source = document.getElementById(canvas.getAttribute("data-source"));
      if (!source) { return; }
      var data = JSON.parse(source.textContent);
      var kind = canvas.getAttribute("data-chart");
      data.datasets.forEach(function (ds, i) {
        ds.borderColor = PALETTE[i % PALETTE.length];
        ds.backgroundColor = PALETTE[i % PALETTE.length];
        ds.tension = 0.2;
        ds.pointRadius = 0;
      });
      new window.Chart(canvas, {
        type: kind,
        data: data,
        options: {
          responsive: true,
          maintainAspectRatio: false,
          animation: false,
          interaction: { mode: "index", intersect: false },
          scales: { y: { beginAtZero: true } },
          plugins: { legend: { position: "bottom" } }
        }
      });
    });
  }

  // A chat reply sent through HTMX empties its box once the server took it.
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.target;
    if (form && form.hasAttribute && form.hasAttribute("data-reset-after-send") && event.detail.successful) {
      form.reset();
      var box = form.querySelector("textarea");
      if (box) { box.focus(); }
    }
  });

  // An error message gets the keyboard focus, so a screen reader reads it first.
  function focusError() {
    var error = document.getElementById("error");
    if (error) { error.setAttribute("tabindex", "-1"); error.focus(); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawCharts();
    focusError();
  });
})();
