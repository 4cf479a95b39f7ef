// Draws the chart described in <script id="chart-data"> (type, label, values, series, rows).
"use strict";
(function () {
  const holder = document.getElementById("chart-data");
  const canvas = document.getElementById("chart");
  if (!holder || !canvas || typeof Chart === "undefined") { return; }
  const spec = JSON.parse(holder.textContent);
  const palette = ["#2b6cb0", "#c53030", "#2f855a", "#b7791f", "#6b46c1", "#2c7a7b", "#d53f8c", "#4a5568"];
  const labelOf = (row) => {
    const v = row[spec.label];
    return spec.label.endsWith("_ms") ? new Date(v).toISOString().slice(11, 19) : String(v);
  };
  const labels = [...new Set(spec.rows.map(labelOf))];
  let datasets = [];
  if (spec.series) {
    const names = [...new Set(spec.rows.map((r) => String(r[spec.series])))];
    datasets = names.map((name, i) => ({
      label: name,
      backgroundColor: palette[i % palette.length],
      borderColor: palette[i % palette.length],
      data: labels.map((l) => spec.rows
        .filter((r) => labelOf(r) === l && String(r[spec.series]) === name)
        .reduce((sum, r) => sum + Number(r[spec.values[0]] || 0), 0)),
    }));
  } else {
    datasets = spec.values.map((field, i) => ({
      label: field,
      backgroundColor: palette[i % palette.length],
      borderColor: palette[i % palette.length],
      data: spec.rows.map((r) => Number(r[field] || 0)),
    }));
  }
  window.tapcardChart = new Chart(canvas, {
    type: spec.type,
    data: { labels: labels, datasets: datasets },
    options: { responsive: true, maintainAspectRatio: false, animation: false,
               scales: { x: { stacked: spec.type === "bar" && !!spec.series }, y: { beginAtZero: true } } },
  });
  canvas.dataset.rendered = String(labels.length);
})();
