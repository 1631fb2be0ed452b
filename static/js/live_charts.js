// Live charts. A chart is <div class="live-chart" id=X data-window=N> with its initial Plotly
// figure in <script id="X-figure" type="application/json"> and its traces' sources in "X-traces"
// ([{group, id, metric}]); each websocket "metrics" message for a trace's group appends one point
// with Plotly.extendTraces, keeping at most N. Migration panels (.migration-live) follow
// "migration.progress" / "migration" events: progress bar, fields, remaining-memory chart.
(function () {
  "use strict";
  if (window.NubesCharts) return;
  const MIB = 1024 * 1024;
  const script = document.currentScript;
  const plotlyUrl = script ? script.dataset.plotly : null;

  function withPlotly(fn) {
    if (window.Plotly) { fn(); return; }
    let tag = document.querySelector("script[data-plotly-lib]");
    if (!tag) {
      tag = document.createElement("script");
      tag.src = plotlyUrl;
      tag.dataset.plotlyLib = "1";
      document.head.appendChild(tag);
    }
    tag.addEventListener("load", fn);
  }

  function json(id) {
    const el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function utc(ts) {
    return new Date(ts * 1000).toISOString().slice(0, 19).replace("T", " ");
  }

  function count(el) {
    el.dataset.points = String(Number(el.dataset.points || 0) + 1);  // browser tests read this
  }

  function setupChart(el) {
    if (el.dataset.ready) return;
    el.dataset.ready = "1";
    const figure = json(el.id + "-figure");
    const traces = json(el.id + "-traces") || [];
    const windowSize = parseInt(el.dataset.window || "360", 10);
    const rangeS = parseInt(el.dataset.rangeS || "3600", 10);
    Plotly.newPlot(el, figure.data, figure.layout, {displayModeBar: false, responsive: true});
    traces.forEach(function (trace, index) {
      window.Nubes.on(trace.group, function (m) {
        if (m.event !== "metrics" || m.data.id !== trace.id) return;
        const value = m.data.values[trace.metric];
        if (value === null || value === undefined) return;
        Plotly.extendTraces(el, {x: [[utc(m.data.ts)]], y: [[value]]}, [index], windowSize);
        // The time axis keeps its span and moves on with the newest point; the "no samples" note goes.
        const update = {"xaxis.range": [utc(m.data.ts - rangeS), utc(m.data.ts)]};
        if ("empty" in el.dataset) { update.annotations = []; delete el.dataset.empty; }
        Plotly.relayout(el, update);
        count(el);
      });
    });
  }

  function setField(panel, name, value, label) {
    panel.querySelectorAll(`[data-mfield="${name}"]`).forEach(function (f) {
      if (f.tagName === "PROGRESS") { f.value = value; } else { f.textContent = value === null || value === undefined ? "—" : (label || value); }
      if (name === "state") f.className = "status status-" + value;
    });
  }

  function setupMigration(panel) {
    if (panel.dataset.ready) return;
    panel.dataset.ready = "1";
    const chart = panel.querySelector(".migration-chart");
    const figure = json(chart.id + "-figure");
    const windowSize = parseInt(panel.dataset.window || "2000", 10);
    Plotly.newPlot(chart, figure.data, figure.layout, {displayModeBar: false, responsive: true});
    // What the migration did before the page joined its group (or while the socket was lost):
    // read it once after each join, as the "migration" event would have told it.
    function catchUp() {
      if (!panel.dataset.migration) return;
      fetch(`/api/v1/migrations/${panel.dataset.migration}/`, {headers: {Accept: "application/json"}})
        .then((r) => r.ok ? r.json() : null)
        .then((data) => { if (data) heard({event: "migration", data: data}); });
    }
    window.Nubes.onJoin(panel.dataset.group, catchUp);  // also at once if joined before Plotly loaded
    window.Nubes.on(panel.dataset.group, heard);
    function heard(m) {
      if (m.event !== "migration.progress" && m.event !== "migration") return;
      const id = String(m.event === "migration" ? m.data.id : m.data.migration);
      if (panel.dataset.migration && panel.dataset.migration !== id) {
        if (m.event !== "migration" || !["queued", "running"].includes(m.data.state)) return;
        panel.dataset.migration = id;  // a newer migration of this instance: start over
        Plotly.react(chart, [{x: [], y: [], mode: "lines+markers"}], figure.layout);
        panel.hidden = false;
      }
      panel.dataset.migration = id;
      panel.hidden = false;
      if (m.event === "migration") {
        ["state", "phase", "percent", "total_ms", "downtime_ms", "data_transferred", "error", "target_name"].forEach(
          (name) => setField(panel, name, m.data[name], m.data[name + "_label"]));
        setField(panel, "progress", m.data.percent);
        setField(panel, "percent-text", m.data.percent + "%");
        panel.dataset.state = m.data.state;
        return;
      }
      const s = m.data.sample;
      setField(panel, "progress", m.data.percent);
      setField(panel, "percent-text", m.data.percent + "%");
      setField(panel, "phase", m.data.phase);
      setField(panel, "iteration", s.iteration);
      setField(panel, "remaining", (s.memory_remaining / MIB).toFixed(1) + " MiB");
      setField(panel, "dirty", (s.dirty_rate_bytes_s / MIB).toFixed(1) + " MiB/s");
      setField(panel, "speed", (s.speed_bytes_s / MIB).toFixed(1) + " MiB/s");
      setField(panel, "expected_downtime", s.expected_downtime_ms === null ? "—" : s.expected_downtime_ms + " ms");
      Plotly.extendTraces(chart, {x: [[s.t]], y: [[s.memory_remaining / MIB]]}, [0], windowSize);
      count(chart);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    const charts = document.querySelectorAll(".live-chart");
    const panels = document.querySelectorAll(".migration-live");
    if (!charts.length && !panels.length) return;
    withPlotly(function () {
      charts.forEach(setupChart);
      panels.forEach(setupMigration);
    });
  });
  window.NubesCharts = {setupChart: setupChart, setupMigration: setupMigration};
})();
