// The live console: frames from /events (gturret/hq/console/feed.py) drawn with uPlot,
// controls posted to /api/*. Every text that came over the wire (turret names, error
// texts, events) goes into the page as textContent, never as markup.
(function () {
  "use strict";
  var token = "";
  var match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
  if (match) {
    token = decodeURIComponent(match[1]);
    sessionStorage.setItem("gturret-token", token);
    history.replaceState(null, "", window.location.pathname);
  } else {
    token = sessionStorage.getItem("gturret-token") || "";
  }

  var state = { frames: 0, points: [], frame: null, charts: {}, formFilled: false };
  window.gturretConsole = state;

  function $(id) { return document.getElementById(id); }
  function fmt(value, places) {
    return value == null ? "–" : Number(value).toFixed(places == null ? 1 : places);
  }
  function text(element, value) { element.textContent = value; return element; }
  function cell(row, value, cls) {
    var td = document.createElement("td");
    td.textContent = value == null ? "–" : String(value);
    if (cls) td.className = cls;
    row.appendChild(td);
    return td;
  }
  function rows(tableId, items, fill) {
    var body = $(tableId).tBodies[0];
    while (body.firstChild) body.removeChild(body.firstChild);
    items.forEach(function (item) {
      var row = document.createElement("tr");
      fill(row, item);
      body.appendChild(row);
    });
  }

  function post(path, body) {
    var headers = { "Content-Type": "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    text($("message"), "");
    return fetch(path, { method: "POST", headers: headers, body: JSON.stringify(body) })
      .then(function (response) {
        return response.json().then(function (answer) {
          if (!response.ok) text($("message"), answer.error || response.statusText);
          return answer;
        });
      })
      .catch(function (error) { text($("message"), String(error)); });
  }

  $("start-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var context;
    try { context = JSON.parse($("context").value || "{}"); }
    catch (error) { text($("message"), "context: " + error.message); return; }
    post("/api/start", {
      run_time: $("run-time").value,
      arrival_rate: Number($("start-rate").value || 0),
      context: context,
    });
  });
  $("stop").addEventListener("click", function () { post("/api/stop", {}); });
  $("rate-set").addEventListener("click", function () {
    post("/api/rate", { arrival_rate: Number($("rate-input").value) });
  });

  // The charts: created once, their data replaced at each frame.
  var colours = { "tx/s": "#1f77b4", "errors/s": "#d62728", "canons active": "#2ca02c",
                  p50: "#1f77b4", p95: "#ff7f0e", p99: "#d62728", "p95 uncorrected": "#2ca02c",
                  "loop lag p99": "#9467bd" };
  var sync = uPlot.sync("console");

  function eventLines(u) {
    var events = state.frame ? state.frame.events : [];
    var ctx = u.ctx;
    events.forEach(function (event) {
      var x = u.valToPos(event.at_s, "x", true);
      if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) return;
      ctx.save();
      ctx.strokeStyle = "#8e24aa";
      ctx.setLineDash([5, 4]);
      ctx.beginPath();
      ctx.moveTo(x, u.bbox.top);
      ctx.lineTo(x, u.bbox.top + u.bbox.height);
      ctx.stroke();
      ctx.fillStyle = "#8e24aa";
      ctx.font = 11 * devicePixelRatio + "px sans-serif";
      ctx.fillText(event.kind, x + 3, u.bbox.top + 12 * devicePixelRatio);
      ctx.restore();
    });
  }

  function makeChart(id, title, unit, labels, rightAxis) {
    var element = $(id);
    var series = [{ label: "second", value: function (u, v) { return v == null ? "–" : v + " s"; } }];
    labels.forEach(function (label) {
      var right = label === rightAxis;
      series.push({
        label: label, stroke: colours[label], width: 1.5, scale: right ? "right" : "y",
        dash: right ? [6, 4] : undefined, spanGaps: false,
        value: function (u, v) { return v == null ? "–" : v.toFixed(right || !unit ? 0 : 2) + unit; },
      });
    });
    var axes = [{ label: "seconds since start", incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600] }, { label: unit.trim() || "per second", size: 60 }];
    var scales = { x: { time: false } };
    if (rightAxis) {
      axes.push({ scale: "right", side: 1, label: rightAxis, grid: { show: false } });
      scales.right = { auto: true };
    }
    var options = {
      title: title, width: Math.max(element.clientWidth, 400), height: 260, scales: scales,
      series: series, axes: axes, hooks: { draw: [eventLines] },
      cursor: { sync: { key: sync.key }, drag: { x: true, y: false } },
    };
    var empty = [[]].concat(labels.map(function () { return []; }));
    state.charts[id] = { plot: new uPlot(options, empty, element), labels: labels };
  }
  makeChart("chart-throughput", "Throughput", "", ["tx/s", "errors/s", "canons active"], "canons active");
  makeChart("chart-latency", "Latency percentiles", " ms",
            ["p50", "p95", "p99", "p95 uncorrected", "loop lag p99"]);
  window.addEventListener("resize", function () {
    Object.keys(state.charts).forEach(function (id) {
      state.charts[id].plot.setSize({ width: Math.max($(id).clientWidth, 400), height: 260 });
    });
  });

  var columns = {
    "tx/s": "tx", "errors/s": "errors", "canons active": "canons_active", p50: "p50_ms",
    p95: "p95_ms", p99: "p99_ms", "p95 uncorrected": "p95_uncorrected_ms",
    "loop lag p99": "loop_lag_p99_ms",
  };
  function drawCharts(done) {
    var points = state.points.filter(function (p) { return p; });
    // While the test runs, its last second is still open: drawn once it closes.
    if (!done) points = points.slice(0, -1);
    var seconds = points.map(function (p) { return p.second; });
    Object.keys(state.charts).forEach(function (id) {
      var chart = state.charts[id];
      var data = [seconds].concat(chart.labels.map(function (label) {
        return points.map(function (p) { var v = p[columns[label]]; return v == null ? null : v; });
      }));
      chart.plot.setData(data, !chart.plot.zoomed);
    });
  }

  function show(frame) {
    state.frame = frame;
    state.frames += 1;
    var doc = frame.document, phase = frame.phase, done = phase === "done";
    frame.points.forEach(function (p) { state.points[p.second] = p; });
    var badge = text($("phase"), phase);
    badge.className = "badge " + (done ? (doc.verdict.passed ? "pass" : "fail") : phase === "running" ? "running" : "");
    text($("clock"), fmt(frame.elapsed_s, 0) + " s of " + fmt(doc.test.run_time_s, 0) + " s");
    $("start-panel").classList.toggle("hidden", phase !== "ready to start");
    $("run-panel").classList.toggle("hidden", phase !== "running");
    if (phase === "ready to start" && !state.formFilled) {
      state.formFilled = true;
      $("run-time").value = doc.test.run_time_s + "s";
      $("start-rate").value = frame.arrival_rate;
      $("context").value = JSON.stringify(doc.test.context);
    }
    var paced = frame.arrival_rate > 0 || doc.pacing !== null;
    $("rate-set").disabled = $("rate-input").disabled = !paced;
    text($("rate-why"), paced ? "now " + fmt(frame.arrival_rate, 1) + " tx/s for the fleet"
      : "closed model: start with an arrival rate to steer it");
    if (document.activeElement !== $("rate-input") && paced) $("rate-input").value = frame.arrival_rate;

    // Cards: the last closed second, and the whole test as the report counts it.
    var closed = state.points.filter(function (p) { return p; });
    var last = closed.length > 1 ? closed[closed.length - 2] : closed[0];
    text($("card-tx-now"), last ? last.tx : "–");
    text($("card-errors-now"), last ? last.errors : "–");
    text($("card-p50"), fmt(last && last.p50_ms, 2));
    text($("card-p95"), fmt(last && last.p95_ms, 2));
    text($("card-p99"), fmt(last && last.p99_ms, 2));
    var active = frame.turrets_live.reduce(function (n, t) { return n + (t.canons_active || 0); }, 0);
    text($("card-canons"), active + " / " + (doc.canons.total == null ? "?" : doc.canons.total));
    text($("total-tx"), doc.transaction.count);
    text($("total-errors"), doc.transaction.errors);
    text($("total-rate"), fmt(doc.transaction.tx_per_s, 1));
    drawCharts(done);

    $("thresholds").classList.toggle("hidden", doc.thresholds.length === 0);
    text($("no-thresholds"), doc.thresholds.length ? "" : "No thresholds: give them with --threshold.");
    rows("thresholds", doc.thresholds, function (row, t) {
      cell(row, t.expression);
      cell(row, t.actual == null ? "–" : fmt(t.actual, 2) + " " + t.unit);
      cell(row, t.passed ? "passing" : "failing", t.passed ? "ok" : "bad");
    });
    var metrics = [doc.transaction].concat(Object.keys(doc.timers).map(function (k) { return doc.timers[k]; }));
    rows("timers", metrics, function (row, m) {
      cell(row, m.name);
      cell(row, m.count); cell(row, m.errors); cell(row, fmt(m.tx_per_s, 1));
      cell(row, fmt(m.p50_ms, 2)); cell(row, fmt(m.p95_ms, 2)); cell(row, fmt(m.p99_ms, 2));
      cell(row, fmt(m.max_ms, 2));
    });
    rows("errors", doc.errors.top, function (row, e) {
      cell(row, e.error, "text"); cell(row, e.count);
      var seen = frame.errors_seen[e.error];
      cell(row, seen == null ? "–" : fmt(seen, 0) + " s");
    });
    rows("events", frame.events, function (row, e) {
      cell(row, fmt(e.at_s, 1) + " s"); cell(row, e.kind); cell(row, e.detail, "text");
    });
    showTurrets(frame, done);
    if (done) showVerdict(frame);
  }

  function showTurrets(frame, done) {
    var editing = document.activeElement && document.activeElement.classList.contains("canons-input");
    if (editing) return;  // never redraw the row a person is typing in
    rows("turrets", frame.turrets_live, function (row, t) {
      row.dataset.uuid = t.uuid;
      cell(row, t.name, "text");
      cell(row, t.uuid.slice(0, 8), "text").title = t.uuid;
      cell(row, t.state);
      cell(row, (t.canons_active == null ? "?" : t.canons_active) + " / " + (t.canons == null ? "?" : t.canons)).className = "canons";
      var control = cell(row, "");
      if (!t.ours) {
        text(control, "reference turret: its canons stay as its config says").className = "why";
      } else if (!done) {
        var input = document.createElement("input");
        input.type = "number"; input.min = "1"; input.className = "canons-input";
        input.value = t.canons == null ? "" : t.canons;
        var button = document.createElement("button");
        button.type = "button"; button.className = "canons-set"; button.textContent = "Set";
        button.addEventListener("click", function () {
          post("/api/canons", { turret: t.uuid, canons: Number(input.value) });
        });
        control.appendChild(input); control.appendChild(button);
      }
      cell(row, fmt(t.tx_per_s, 1)); cell(row, fmt(t.loop_lag_p99_ms, 2));
      cell(row, fmt(t.last_heard_s, 1) + " s ago");
      cell(row, t.produced); cell(row, t.received); cell(row, t.dropped); cell(row, t.lost);
    });
  }

  function showVerdict(frame) {
    var verdict = frame.document.verdict;
    $("verdict-panel").classList.remove("hidden");
    var badge = text($("verdict"), verdict.passed ? "PASS" : "FAIL");
    badge.className = "badge " + (verdict.passed ? "pass" : "fail");
    text($("verdict-reason"), verdict.reason);
    var list = $("problems");
    while (list.firstChild) list.removeChild(list.firstChild);
    verdict.problems.forEach(function (p) { list.appendChild(text(document.createElement("li"), p)); });
    var reports = $("reports");
    while (reports.firstChild) reports.removeChild(reports.firstChild);
    Object.keys(frame.reports).forEach(function (kind) {
      var a = document.createElement("a");
      a.href = "/reports/" + encodeURIComponent(kind) + (token ? "?token=" + encodeURIComponent(token) : "");
      a.textContent = kind.replace("_", " ") + " (" + frame.reports[kind] + ")";
      reports.appendChild(a);
      reports.appendChild(document.createTextNode(" · "));
    });
  }

  function connect() {
    var source = new EventSource("/events" + (token ? "?token=" + encodeURIComponent(token) : ""));
    source.onopen = function () { text($("link"), "live"); };
    source.onmessage = function (message) { show(JSON.parse(message.data)); };
    source.onerror = function () {
      text($("link"), state.frame && state.frame.phase === "done" ? "the HQ has ended" : "reconnecting…");
    };
  }
  connect();
})();
