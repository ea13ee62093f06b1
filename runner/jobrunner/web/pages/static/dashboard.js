// The dashboard's only script (no inline script: CSP). Pages work without it; with it,
// htmx (loaded before) refreshes the overview and submits forms in place, and this draws
// the overview's chart with uPlot from the JSON in its data-chart attribute.
"use strict";

function drawCharts(root) {
  if (typeof uPlot === "undefined") return;
  root.querySelectorAll("[data-chart]").forEach(function (el) {
    if (el.dataset.drawn) return;
    el.dataset.drawn = "1";
    var data = JSON.parse(el.dataset.chart);
    var width = Math.max(300, Math.min(el.clientWidth || 800, 1000));
    var options = {
      width: width,
      height: 180,
      series: [
        {},
        { label: "succeeded / min", stroke: "#14532d", width: 2 },
        { label: "failed / min", stroke: "#8f1d1d", width: 2 },
      ],
      axes: [{}, { label: "attempts" }],
    };
    new uPlot(options, [data.minutes, data.succeeded, data.failed], el);
  });
}

document.addEventListener("DOMContentLoaded", function () { drawCharts(document); });
document.addEventListener("htmx:load", function (event) { drawCharts(event.target); });
