// Draws the chart described in <script id="chart-data">: labels, datasets (label, data,
// colour), whether the bars stack, and the unit of the values ("¥": yuan, never cents).
// The hub builds the series (hub/web/reporting.py chart_data); this only draws them.
"use strict";
(function () {
  const holder = document.getElementById("chart-data");
  const canvas = document.getElementById("chart");
  if (!holder || !canvas || typeof Chart === "undefined") { return; }
  const spec = JSON.parse(holder.textContent);
  const yuan = new Intl.NumberFormat(document.documentElement.lang || "zh",
    { minimumFractionDigits: 0, maximumFractionDigits: 2 });
  const shown = (v) => (spec.unit === "¥" ? "¥" + yuan.format(v) : yuan.format(v));
  const datasets = spec.datasets.map((d) => ({
    label: d.label,
    data: d.data,
    backgroundColor: d.color,
    borderColor: d.color,
    fill: false,
  }));
  window.tapcardChart = new Chart(canvas, {
    type: spec.type,
    data: { labels: spec.labels, datasets: datasets },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      plugins: {
        tooltip: { callbacks: { label: (c) => c.dataset.label + ": " + shown(c.parsed.y) } },
      },
      scales: {
        x: { stacked: spec.stacked },
        y: { stacked: spec.stacked, beginAtZero: true, ticks: { callback: (v) => shown(v) } },
      },
    },
  });
  canvas.dataset.rendered = String(spec.labels.length);
})();
