// The report's two charts, drawn with uPlot from the JSON in #chart-data
// (gturret/hq/charts.py). Hover: the legend shows the values of that second, on
// both charts at once. Drag across a chart: zoom into that stretch of time (both
// charts follow). Double click: back to the whole test.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("chart-data").textContent);
  var colours = {
    "transactions/s": "#1f77b4", "errors/s": "#d62728", "active canons": "#2ca02c",
    "p50": "#1f77b4", "p95": "#ff7f0e", "p99": "#d62728", "p95 uncorrected": "#2ca02c",
    "loop lag p99": "#9467bd",
  };
  var seconds = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200];
  var sync = uPlot.sync("gturret");
  var charts = {};

  function number(unit, places) {
    return function (u, value) {
      return value == null ? "–" : value.toFixed(places) + unit;
    };
  }

  // A dotted vertical line where the stop was sent.
  function stopLine(u) {
    var x = u.valToPos(data.stop_s, "x", true);
    if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) return;
    var ctx = u.ctx;
    ctx.save();
    ctx.strokeStyle = "#555";
    ctx.setLineDash([3, 3]);
    ctx.beginPath();
    ctx.moveTo(x, u.bbox.top);
    ctx.lineTo(x, u.bbox.top + u.bbox.height);
    ctx.stroke();
    ctx.restore();
  }

  // A dashed line, named by its kind, at each change made in the live console.
  function eventLines(u) {
    (data.events || []).forEach(function (event) {
      var x = u.valToPos(event.at_s, "x", true);
      if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) return;
      var ctx = u.ctx;
      ctx.save();
      ctx.strokeStyle = ctx.fillStyle = "#8e24aa";
      ctx.setLineDash([5, 4]);
      ctx.beginPath();
      ctx.moveTo(x, u.bbox.top);
      ctx.lineTo(x, u.bbox.top + u.bbox.height);
      ctx.stroke();
      ctx.fillText(event.kind, x + 3, u.bbox.top + 12);
      ctx.restore();
    });
  }

  function syncZoom(u) {
    var min = u.scales.x.min, max = u.scales.x.max;
    Object.keys(charts).forEach(function (name) {
      var other = charts[name];
      if (other !== u && (other.scales.x.min !== min || other.scales.x.max !== max)) {
        other.setScale("x", { min: min, max: max });
      }
    });
  }

  function chart(name, title, unit, places, series, extra) {
    var element = document.getElementById(name);
    var values = [data.seconds];
    var options = {
      title: title,
      width: Math.max(element.clientWidth, 400),
      height: 300,
      scales: { x: { time: false } },
      cursor: { sync: { key: sync.key, setSeries: true }, drag: { x: true, y: false } },
      series: [{ label: "second", value: number(" s", 0) }],
      axes: [
        { label: "seconds since start", incrs: seconds },
        { label: unit.trim() || "per second", size: 60 },
      ],
      hooks: { draw: [stopLine, eventLines], setScale: [function (u, key) { if (key === "x") syncZoom(u); }] },
    };
    Object.keys(series).forEach(function (label) {
      values.push(series[label]);
      options.series.push({
        label: label,
        stroke: colours[label],
        width: 1.5,
        spanGaps: false,
        points: { show: data.seconds.length < 120 },
        paths: name === "throughput" ? uPlot.paths.stepped({ align: 1 }) : undefined,
        value: number(unit, places),
      });
    });
    if (extra) extra(options, values);
    if (data.seconds.length === 0) {
      element.textContent = "no transactions recorded";
      return;
    }
    charts[name] = new uPlot(options, values, element);
  }

  chart("throughput", "Throughput", "", 0, data.throughput, function (options, values) {
    if (!data.canons) return;
    values.push(data.canons);
    options.scales.canons = { auto: true };
    options.series.push({
      label: "active canons",
      scale: "canons",
      stroke: colours["active canons"],
      dash: [6, 4],
      width: 1.5,
      paths: uPlot.paths.stepped({ align: 1 }),
      value: number("", 0),
    });
    options.axes.push({ scale: "canons", side: 1, label: "active canons", grid: { show: false } });
  });
  chart("latency", "Latency percentiles", " ms", 2, data.latency);

  window.addEventListener("resize", function () {
    Object.keys(charts).forEach(function (name) {
      var element = document.getElementById(name);
      charts[name].setSize({ width: Math.max(element.clientWidth, 400), height: 300 });
    });
  });
  // For the reader's console and the browser test: the uPlot instances, by chart.
  window.gturretCharts = charts;
})();
