// Charts from data, never from inline script: an element with data-chart="ID" is
// drawn from the JSON in <script type="application/json" id="ID"> (Django's
// json_script). Payload: {"type": "bars"|"line", "x": ["YYYY-MM-DD" or an ISO
// instant "YYYY-MM-DDTHH:MM:SSZ", ...],
// "series": [{"label": "...", "values": [...]}], optional "range": [start, end] (instants:
// the x axis spans them) and "timezone": "Area/City" (the axis reads in it)}.
// See docs/dashboard.md.
import uPlot from "uplot";

const HEIGHT = 220;

// Tick labels in 24-hour time and day-month order, as the dashboard's tables write them
// (uPlot's own are American). Per row: tick size in seconds, label, then the line added
// under the first tick of a new year, month, day, hour, minute, second; last, mode 1.
const TIME_LABELS = [
  [3600 * 24 * 365, "{YYYY}", null, null, null, null, null, null, 1],
  [3600 * 24 * 28, "{MMM}", "\n{YYYY}", null, null, null, null, null, 1],
  [3600 * 24, "{D} {MMM}", "\n{YYYY}", null, null, null, null, null, 1],
  [3600, "{HH}:{mm}", "\n{D} {MMM} {YYYY}", null, "\n{D} {MMM}", null, null, null, 1],
  [60, "{HH}:{mm}", "\n{D} {MMM} {YYYY}", null, "\n{D} {MMM}", null, null, null, 1],
  [1, ":{ss}", "\n{D} {MMM} {YYYY} {HH}:{mm}", null, "\n{D} {MMM} {HH}:{mm}", null, "\n{HH}:{mm}", null, 1],
];

function seriesColour(element, index) {
  const value = getComputedStyle(element).getPropertyValue(`--chart-${index + 1}`).trim();
  return value || "#1d70b8";
}

// A day is drawn at noon UTC so that it never slips to its neighbour; an instant as is.
function seconds(value) {
  return Date.parse(value.includes("T") ? value : `${value}T12:00:00Z`) / 1000;
}

function options(element, payload, width) {
  const bars = payload.type === "bars";
  const count = payload.series.length;
  // The x axis spans the period the page gives: uPlot's own guess for a single point
  // is a thousand days wide (it adds "a day" of 86400 / 1e-3 units when x is in seconds).
  const x = { time: true };
  if (payload.range) {
    const [start, end] = payload.range.map(seconds);
    x.range = () => [start, end];
  }
  return {
    width,
    height: HEIGHT,
    legend: { live: false },
    cursor: { drag: { x: false, y: false } },
    ...(payload.timezone && {
      tzDate: (stamp) => uPlot.tzDate(new Date(stamp * 1000), payload.timezone),
    }),
    scales: { x, y: { range: (u, min, max) => [0, Math.max(1, max)] } },
    hooks: {
      // Once drawn, what the x axis spans (seconds), for tests and anyone inspecting it.
      draw: [
        (plot) => {
          element.dataset.xMin = String(plot.scales.x.min);
          element.dataset.xMax = String(plot.scales.x.max);
          element.dataset.chartReady = "true";
        },
      ],
    },
    axes: [{ values: TIME_LABELS }, { size: 48 }],
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
  element.dataset.chartStarted = "true";
  const payload = JSON.parse(source.textContent);
  const data = [payload.x.map(seconds), ...payload.series.map((series) => series.values)];
  const plot = new uPlot(options(element, payload, element.clientWidth), data, element);
  new ResizeObserver(() => plot.setSize({ width: element.clientWidth, height: HEIGHT })).observe(
    element,
  );
}

export function drawCharts(root = document) {
  root.querySelectorAll("[data-chart]:not([data-chart-started])").forEach(draw);
}
