// Charts from data, never from inline script: an element with data-chart="ID" is
// drawn from the JSON in <script type="application/json" id="ID"> (Django's
// json_script). Payload: {"type": "bars"|"line", "x": ["YYYY-MM-DD" or an ISO
// instant "YYYY-MM-DDTHH:MM:SSZ", ...],
// "series": [{"label": "...", "values": [...]}]}. See docs/dashboard.md.
import uPlot from "uplot";

const HEIGHT = 220;

function seriesColour(element, index) {
  const value = getComputedStyle(element).getPropertyValue(`--chart-${index + 1}`).trim();
  return value || "#1d70b8";
}

function options(element, payload, width) {
  const bars = payload.type === "bars";
  const count = payload.series.length;
  return {
    width,
    height: HEIGHT,
    legend: { live: false },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max)] } },
    axes: [{}, { size: 48 }],
    series: [
      {},
      ...payload.series.map((series, index) => ({
        label: series.label,
        stroke: seriesColour(element, index),
        fill: bars ? seriesColour(element, index) : undefined,
        width: payload.type === "bars" ? 0 : 2,
        paths: bars
          ? uPlot.paths.bars({ size: [0.8 / count, 24], align: index === 0 ? -1 : 1 })
          : undefined,
        points: { show: !bars },
      })),
    ],
  };
}

function draw(element) {
  const source = document.getElementById(element.dataset.chart);
  if (!source) return;
  const payload = JSON.parse(source.textContent);
  // A day is drawn at noon UTC so that it never slips to its neighbour; an instant as is.
  const x = payload.x.map(
    (value) => Date.parse(value.includes("T") ? value : `${value}T12:00:00Z`) / 1000,
  );
  const data = [x, ...payload.series.map((series) => series.values)];
  const plot = new uPlot(options(element, payload, element.clientWidth), data, element);
  new ResizeObserver(() => plot.setSize({ width: element.clientWidth, height: HEIGHT })).observe(
    element,
  );
  element.dataset.chartReady = "true";
}

export function drawCharts(root = document) {
  root.querySelectorAll("[data-chart]:not([data-chart-ready])").forEach(draw);
}
