// gitrack report: the runs table, SVG charts, run sections and the comparison.
// Everything from a note is untrusted: it reaches the page only as text nodes and
// attribute values (createTextNode, setAttribute), never through innerHTML.
"use strict";
(function () {
  const started = performance.now();
  const DATA = JSON.parse(document.getElementById("gitrack-data").textContent);
  document.getElementById("gitrack-data").remove(); // parsed: megabytes the DOM need not keep
  const SVGNS = "http://www.w3.org/2000/svg";
  const RUNS = DATA.runs;
  for (const run of RUNS) { // consecutive steps arrive as their first step alone
    for (const pair of Object.values(run.steps)) {
      if (typeof pair[0] === "number") pair[0] = pair[1].map((_, i) => pair[0] + i);
    }
  }
  const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
    "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"];
  const PAGE = 200; // rows shown at first: laying out thousands of rows takes seconds
  const state = { sort: "", desc: false, filter: "", selected: [], limit: PAGE };
  const rows = new Map(); // run id -> <tr>
  const violations = [];
  document.addEventListener("securitypolicyviolation", (e) => {
    violations.push(e.blockedURI || e.violatedDirective);
    const out = document.getElementById("csp-violations");
    if (out) out.textContent = violations.join(" ");
  });

  // ------------------------------------------------------------------ DOM helpers
  function put(node, attrs, kids) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, String(v));
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid === null || kid === undefined || kid === false) continue;
      node.appendChild(typeof kid === "object" ? kid : document.createTextNode(String(kid)));
    }
    return node;
  }
  const el = (tag, attrs, ...kids) => put(document.createElement(tag), attrs, kids);
  const svg = (tag, attrs, ...kids) => put(document.createElementNS(SVGNS, tag), attrs, kids);

  // ----------------------------------------------------------------------- values
  function num(v) {
    if (typeof v === "number") return v;
    if (v === "NaN") return NaN;
    if (v === "Infinity") return Infinity;
    if (v === "-Infinity") return -Infinity;
    if (typeof v === "string" && v.trim() !== "" && isFinite(Number(v))) return Number(v);
    return undefined;
  }
  function value(run, col) {
    if (col.startsWith("params.")) return run.params[col.slice(7)];
    if (col.startsWith("metrics.")) return num(run.metrics[col.slice(8)]);
    return run[col];
  }
  function fmt(v) {
    if (v === undefined || v === null) return "";
    if (typeof v === "number") {
      if (Number.isInteger(v)) return String(v);
      return Number.isFinite(v) ? String(Number(v.toPrecision(6))) : String(v);
    }
    if (typeof v === "boolean") return v ? "yes" : "no";
    return String(v);
  }
  function fmtSize(n) {
    if (n === null || n === undefined) return "?";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : String(n)) + " " + units[i];
  }
  function fmtDuration(s) {
    if (s < 60) return s.toFixed(1) + " s";
    if (s < 3600) return (s / 60).toFixed(1) + " min";
    return (s / 3600).toFixed(1) + " h";
  }
  const label = (run) => run.name || run.id.slice(0, 8);
  const colLabel = (col) => ({ name: "name", id: "id", status: "status", started: "started",
    duration_s: "duration", commit: "commit" })[col] || col;
  function compare(a, b) {
    const ua = a === undefined || a === null || (typeof a === "number" && isNaN(a));
    const ub = b === undefined || b === null || (typeof b === "number" && isNaN(b));
    if (ua || ub) return ua === ub ? 0 : ua ? 1 : -1; // missing values last
    const na = num(a), nb = num(b);
    if (na !== undefined && nb !== undefined) return na - nb;
    return String(a).localeCompare(String(b));
  }

  // -------------------------------------------------------------------- the table
  const columns = [...DATA.attributes, ...DATA.columns];
  function buildTable() {
    const head = el("tr", {}, el("th", {}, el("input", { type: "checkbox", id: "select-all",
      title: "select every listed run", onchange: (e) => selectVisible(e.target.checked) })));
    for (const col of columns) {
      head.appendChild(el("th", { "data-col": col, class: "sortable", title: "sort by " + col,
        onclick: () => sortBy(col) }, colLabel(col)));
    }
    const body = el("tbody", { id: "runs-body" });
    for (const run of RUNS) {
      const box = el("input", { type: "checkbox", "data-run": run.id,
        onchange: (e) => toggle(run.id, e.target.checked) });
      const tr = el("tr", { "data-run": run.id }, el("td", {}, box));
      for (const col of columns) {
        const v = value(run, col);
        let cell;
        if (col === "name" || col === "id") {
          cell = el("a", { href: "#run-" + run.id, onclick: (e) => { e.preventDefault(); openRun(run.id); } },
            col === "id" ? run.id.slice(0, 8) : (v || ""));
        } else if (col === "started") cell = v.replace("T", " ").slice(0, 19);
        else if (col === "duration_s") cell = fmtDuration(v);
        else if (col === "commit") cell = [run.commit.slice(0, 8), run.dirty ? el("span", { class: "dirty", title: "ran with uncommitted changes" }, "*") : ""];
        else if (col === "status") cell = el("span", { class: "status-" + run.status }, v);
        else cell = fmt(v);
        tr.appendChild(el("td", { class: typeof v === "number" ? "num" : null }, cell));
      }
      rows.set(run.id, tr);
      body.appendChild(tr);
    }
    return el("table", { id: "runs-table" }, el("thead", {}, head), body);
  }
  function rowText(run) {
    return [run.name, run.id, run.status, run.command, run.commit, run.user, run.host,
      ...Object.entries(run.params).flat(), ...Object.entries(run.tags).flat()]
      .filter((x) => x).join(" ").toLowerCase();
  }
  const texts = new Map(RUNS.map((r) => [r.id, rowText(r)]));
  function visibleRuns() {
    let list = RUNS.slice();
    if (state.filter) {
      const words = state.filter.toLowerCase().split(/\s+/).filter((w) => w);
      list = list.filter((r) => words.every((w) => texts.get(r.id).includes(w)));
    }
    if (state.sort) {
      const dir = state.desc ? -1 : 1;
      list.sort((a, b) => {
        const va = value(a, state.sort), vb = value(b, state.sort);
        const missing = (v) => v === undefined || v === null || (typeof v === "number" && isNaN(v));
        if (missing(va) || missing(vb)) return compare(va, vb); // missing last either way
        return dir * compare(va, vb);
      });
    }
    return list;
  }
  function refreshTable() {
    const body = document.getElementById("runs-body");
    const list = visibleRuns();
    // Only the rows shown are in the document: thousands of rows take seconds to lay out.
    body.replaceChildren(...list.slice(0, state.limit).map((run) => rows.get(run.id)));
    const more = document.getElementById("show-more");
    more.hidden = list.length <= state.limit;
    more.textContent = `show all ${list.length} runs (${list.length - state.limit} more)`;
    for (const th of document.querySelectorAll("th[data-col]")) {
      const col = th.getAttribute("data-col");
      th.setAttribute("aria-sort", col === state.sort ? (state.desc ? "descending" : "ascending") : "none");
    }
    const listed = Math.min(list.length, state.limit);
    document.getElementById("shown-count").textContent =
      (listed === RUNS.length ? `${RUNS.length} run(s)` : `${listed} of ${RUNS.length} run(s)`) +
      (list.length > listed ? `; ${list.length} match` : "");
    drawPlots(list);
    drawSteps();
  }
  function sortBy(col) {
    if (state.sort === col) state.desc = !state.desc;
    else { state.sort = col; state.desc = col.startsWith("metrics.") || col === "started"; }
    refreshTable();
    saveHash();
  }

  // ------------------------------------------------------------------- selection
  function toggle(id, on) {
    const i = state.selected.indexOf(id);
    if (on && i < 0) state.selected.push(id);
    if (!on && i >= 0) state.selected.splice(i, 1);
    const box = rows.get(id).querySelector("input");
    box.checked = on;
    rows.get(id).classList.toggle("selected", on);
    drawSelection();
    saveHash();
  }
  function selectVisible(on) {
    for (const run of visibleRuns()) {
      const i = state.selected.indexOf(run.id);
      if (on && i < 0) state.selected.push(run.id);
      if (!on && i >= 0) state.selected.splice(i, 1);
      rows.get(run.id).querySelector("input").checked = on;
      rows.get(run.id).classList.toggle("selected", on);
    }
    drawSelection();
    saveHash();
  }
  function drawSelection() {
    drawSteps();
    drawComparison();
  }
  const selectedRuns = () => state.selected.map((id) => RUNS.find((r) => r.id === id));

  // ----------------------------------------------------------------------- charts
  function niceTicks(lo, hi, count) {
    if (!(hi > lo)) { const d = Math.abs(lo) || 1; lo -= d / 2; hi += d / 2; }
    const raw = (hi - lo) / count;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw);
    const ticks = [];
    for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
    return { lo, hi, ticks };
  }
  function scale(lo, hi, a, b) { return (v) => (hi === lo ? (a + b) / 2 : a + ((v - lo) / (hi - lo)) * (b - a)); }
  function axisFrame(W, H, M, xs, ys, xlabel, ylabel) {
    const g = svg("g", { class: "axes" });
    const X = scale(xs.lo, xs.hi, M.l, W - M.r), Y = scale(ys.lo, ys.hi, H - M.b, M.t);
    g.appendChild(svg("line", { x1: M.l, y1: H - M.b, x2: W - M.r, y2: H - M.b, class: "axis" }));
    g.appendChild(svg("line", { x1: M.l, y1: M.t, x2: M.l, y2: H - M.b, class: "axis" }));
    for (const t of xs.ticks) {
      g.appendChild(svg("line", { x1: X(t), y1: H - M.b, x2: X(t), y2: H - M.b + 4, class: "axis" }));
      g.appendChild(svg("text", { x: X(t), y: H - M.b + 16, "text-anchor": "middle" }, fmt(t)));
    }
    for (const t of ys.ticks) {
      g.appendChild(svg("line", { x1: M.l, y1: Y(t), x2: W - M.r, y2: Y(t), class: "grid" }));
      g.appendChild(svg("text", { x: M.l - 6, y: Y(t) + 4, "text-anchor": "end" }, fmt(t)));
    }
    if (xlabel) g.appendChild(svg("text", { x: (M.l + W - M.r) / 2, y: H - 4, "text-anchor": "middle", class: "label" }, xlabel));
    if (ylabel) g.appendChild(svg("text", { x: 12, y: M.t - 8, class: "label" }, ylabel));
    return { g, X, Y };
  }
  function extent(values) {
    let lo = Infinity, hi = -Infinity;
    for (const v of values) if (Number.isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; }
    return lo <= hi ? [lo, hi] : [0, 1];
  }
  // One line per run: series = [{run, color, xs, ys}].
  function lineChart(title, series) {
    const W = 460, H = 260, M = { l: 56, r: 12, t: 24, b: 36 };
    const [x0, x1] = extent(series.flatMap((s) => s.xs));
    const [y0, y1] = extent(series.flatMap((s) => s.ys.map(num)));
    const xs = niceTicks(x0, x1, 6), ys = niceTicks(y0, y1, 5);
    const { g, X, Y } = axisFrame(W, H, M, niceBounds(xs), niceBounds(ys), "step", title);
    const chart = svg("svg", { class: "chart line-chart", viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img" }, g);
    for (const s of series) {
      let d = "", pen = "M";
      for (let i = 0; i < s.xs.length; i++) {
        const y = num(s.ys[i]);
        if (!Number.isFinite(y)) { pen = "M"; continue; }
        d += `${pen}${X(s.xs[i]).toFixed(1)},${Y(y).toFixed(1)}`;
        pen = "L";
      }
      const path = svg("path", { d: d || "M0,0", stroke: s.color, class: "series", "data-run": s.run.id },
        svg("title", {}, label(s.run)));
      chart.appendChild(path);
      if (s.xs.length === 1 && Number.isFinite(num(s.ys[0]))) {
        chart.appendChild(svg("circle", { cx: X(s.xs[0]), cy: Y(num(s.ys[0])), r: 3, fill: s.color }));
      }
    }
    return el("figure", { class: "chart-box" }, el("figcaption", {}, title), chart);
  }
  function niceBounds(t) {
    return { lo: Math.min(t.lo, t.ticks[0]), hi: Math.max(t.hi, t.ticks[t.ticks.length - 1]), ticks: t.ticks };
  }
  function legend(list) {
    return el("ul", { class: "legend" }, list.map((run, i) =>
      el("li", {}, el("span", { class: "swatch", style: `background:${PALETTE[i % PALETTE.length]}` }), label(run))));
  }
  function stepCharts(list) {
    const keys = [...new Set(list.flatMap((r) => Object.keys(r.steps)))].sort();
    if (!keys.length) return el("p", { class: "empty" }, "These runs logged no step metrics (gitrack.log_metric with a step).");
    return el("div", { class: "charts" }, keys.map((key) => lineChart(key, list
      .map((run, i) => ({ run, color: PALETTE[i % PALETTE.length], xs: (run.steps[key] || [[], []])[0], ys: (run.steps[key] || [[], []])[1] }))
      .filter((s) => s.xs.length))));
  }
  function drawSteps() {
    const box = document.getElementById("step-charts");
    const chosen = state.selected.length ? selectedRuns() : visibleRuns().slice(0, PALETTE.length);
    const note = state.selected.length
      ? `The ${chosen.length} selected run(s).`
      : `No run selected: the first ${chosen.length} listed run(s). Tick runs in the table to choose.`;
    box.replaceChildren(el("p", { class: "note" }, note), legend(chosen), stepCharts(chosen));
  }

  // Columns that hold numbers for every run that has them (else categories).
  function axisOf(col, list) {
    const vals = list.map((r) => value(r, col)).filter((v) => v !== undefined && v !== null);
    const nums = vals.map(num);
    if (vals.length && nums.every((v) => v !== undefined)) {
      const [lo, hi] = extent(nums);
      return { col, kind: "num", lo, hi, pos: (v) => num(v) };
    }
    const cats = [...new Set(vals.map(String))].sort((a, b) => compare(a, b));
    return { col, kind: "cat", cats, lo: 0, hi: Math.max(cats.length - 1, 1), pos: (v) => cats.indexOf(String(v)) };
  }
  function colorScale(lo, hi) {
    return (v) => {
      if (!Number.isFinite(v)) return "#999";
      const t = hi > lo ? (v - lo) / (hi - lo) : 0.5;
      return `hsl(${Math.round(240 - 240 * t)},70%,45%)`;
    };
  }
  function parallel(list, metric) {
    const params = DATA.columns.filter((c) => c.startsWith("params.") &&
      new Set(list.map((r) => String(value(r, c)))).size > 1).slice(0, 10);
    const axes = [...params, metric].map((c) => axisOf(c, list));
    const W = Math.max(420, 150 * axes.length), H = 320, M = { l: 40, r: 60, t: 34, b: 30 };
    const chart = svg("svg", { class: "chart parallel", viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img" });
    const AX = (i) => (axes.length === 1 ? W / 2 : M.l + (i * (W - M.l - M.r)) / (axes.length - 1));
    const metricAxis = axes[axes.length - 1];
    const color = colorScale(metricAxis.lo, metricAxis.hi);
    const selected = new Set(state.selected);
    const lines = svg("g", { class: "lines" });
    for (const run of list) {
      let d = "", pen = "M";
      axes.forEach((a, i) => {
        const v = value(run, a.col);
        const p = v === undefined ? undefined : a.pos(v);
        if (p === undefined || !Number.isFinite(p) || p < 0) { pen = "M"; return; }
        const y = scale(a.lo, a.hi, H - M.b, M.t)(p);
        d += `${pen}${AX(i).toFixed(1)},${y.toFixed(1)}`;
        pen = "L";
      });
      if (!d) continue;
      lines.appendChild(svg("path", { d, stroke: color(num(value(run, metric))), "data-run": run.id,
        class: selected.has(run.id) ? "pc-line chosen" : "pc-line" }, svg("title", {}, label(run))));
    }
    chart.appendChild(lines);
    axes.forEach((a, i) => {
      const x = AX(i), Y = scale(a.lo, a.hi, H - M.b, M.t);
      const g = svg("g", { class: "axes" }, svg("line", { x1: x, y1: M.t, x2: x, y2: H - M.b, class: "axis" }),
        svg("text", { x, y: M.t - 14, "text-anchor": "middle", class: "label" }, a.col));
      const ticks = a.kind === "num" ? niceTicks(a.lo, a.hi, 4).ticks.filter((t) => t >= a.lo && t <= a.hi) : a.cats.map((_, j) => j);
      for (const t of ticks) {
        g.appendChild(svg("text", { x: x + 5, y: Y(t) + 4, class: "tick" }, a.kind === "num" ? fmt(t) : a.cats[t]));
      }
      chart.appendChild(g);
    });
    return chart;
  }
  function scatter(list, xcol, ycol) {
    const W = 520, H = 340, M = { l: 60, r: 16, t: 24, b: 40 };
    const ax = axisOf(xcol, list), ay = axisOf(ycol, list);
    const xt = ax.kind === "num" ? niceBounds(niceTicks(ax.lo, ax.hi, 6)) : { lo: -0.5, hi: ax.cats.length - 0.5, ticks: [] };
    const yt = niceBounds(niceTicks(ay.lo, ay.hi, 5));
    const { g, X, Y } = axisFrame(W, H, M, xt, yt, xcol, ycol);
    if (ax.kind === "cat") ax.cats.forEach((c, j) => g.appendChild(svg("text", { x: X(j), y: H - M.b + 16, "text-anchor": "middle" }, c)));
    const chart = svg("svg", { class: "chart scatter", viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img" }, g);
    const selected = new Set(state.selected);
    for (const run of list) {
      const vx = value(run, xcol), vy = num(value(run, ycol));
      if (vx === undefined || !Number.isFinite(vy)) continue;
      const px = ax.pos(vx);
      if (!Number.isFinite(px) || px < 0) continue;
      chart.appendChild(svg("circle", { cx: X(px).toFixed(1), cy: Y(vy).toFixed(1), r: selected.has(run.id) ? 6 : 4,
        class: selected.has(run.id) ? "point chosen" : "point", "data-run": run.id,
        onclick: () => toggle(run.id, !selected.has(run.id)) },
      svg("title", {}, `${label(run)}: ${xcol}=${fmt(vx)}, ${ycol}=${fmt(vy)}`)));
    }
    return chart;
  }
  const metricCols = DATA.columns.filter((c) => c.startsWith("metrics."));
  const plotState = { pc: metricCols[0], x: DATA.columns.find((c) => c.startsWith("params.")) || metricCols[0], y: metricCols[0] };
  function chooser(id, options, current, onpick) {
    return el("select", { id, onchange: (e) => onpick(e.target.value) },
      options.map((o) => el("option", { value: o, selected: o === current ? "selected" : null }, o)));
  }
  function drawPlots(list) {
    const box = document.getElementById("plots");
    if (!metricCols.length) {
      box.replaceChildren(el("p", { class: "empty" }, "No metrics recorded: nothing to plot."));
      return;
    }
    const redraw = () => drawPlots(visibleRuns());
    box.replaceChildren(
      el("div", { class: "plot" }, el("h3", {}, "Parallel coordinates: params against ",
        chooser("pc-metric", metricCols, plotState.pc, (v) => { plotState.pc = v; redraw(); })),
      el("div", { class: "scroll" }, parallel(list, plotState.pc))),
      el("div", { class: "plot" }, el("h3", {}, "Scatter: ",
        chooser("scatter-x", DATA.columns, plotState.x, (v) => { plotState.x = v; redraw(); }), " against ",
        chooser("scatter-y", metricCols, plotState.y, (v) => { plotState.y = v; redraw(); })),
      scatter(list, plotState.x, plotState.y)));
  }

  // ------------------------------------------------------------------ comparison
  function drawComparison() {
    const box = document.getElementById("comparison");
    const list = selectedRuns();
    if (list.length < 2) {
      box.replaceChildren(el("p", { class: "empty" }, "Tick two or more runs in the table to compare them."));
      return;
    }
    const fields = ["status", "commit", "dirty", "duration_s", "command"];
    for (const group of ["params", "metrics", "tags"]) {
      const keys = new Set(list.flatMap((r) => Object.keys(r[group])));
      fields.push(...[...keys].sort().map((k) => `${group}.${k}`));
    }
    for (const group of ["datasets", "outputs"]) {
      const keys = new Set(list.flatMap((r) => r[group].map((e) => e.path)));
      fields.push(...[...keys].sort().map((k) => `${group}.${k}`));
    }
    const cell = (run, f) => {
      for (const group of ["datasets", "outputs"]) {
        if (f.startsWith(group + ".")) {
          const e = run[group].find((x) => x.path === f.slice(group.length + 1));
          return e ? e.hash : undefined;
        }
      }
      if (f.startsWith("tags.")) return run.tags[f.slice(5)];
      if (f === "dirty") return run.dirty ? "yes" : "no";
      return value(run, f);
    };
    const body = el("tbody", {});
    for (const f of fields) {
      const vals = list.map((r) => cell(r, f));
      const differs = new Set(vals.map((v) => (typeof v === "number" && isNaN(v) ? "NaN" : JSON.stringify(v)))).size > 1;
      body.appendChild(el("tr", { class: differs ? "differs" : null, "data-field": f },
        el("td", { class: "mark" }, differs ? "≠" : ""), el("th", {}, f),
        vals.map((v) => el("td", { class: typeof v === "number" ? "num" : null }, f === "duration_s" && v !== undefined ? fmtDuration(v) : fmt(v)))));
    }
    const head = el("tr", {}, el("th", {}), el("th", {}, "field"),
      list.map((r, i) => el("th", {}, el("span", { class: "swatch", style: `background:${PALETTE[i % PALETTE.length]}` }), label(r))));
    box.replaceChildren(
      el("p", { class: "note" }, `${list.length} runs; rows marked ≠ differ.`),
      el("table", { id: "compare-table" }, el("thead", {}, head), body),
      el("h3", {}, "Step metrics, overlaid"), legend(list), stepCharts(list));
  }

  // ---------------------------------------------------------------- run sections
  function kvTable(obj, numeric, keepOrder) {
    const keys = Object.keys(obj || {}).filter((k) => obj[k] !== undefined);
    if (!keepOrder) keys.sort();
    if (!keys.length) return el("p", { class: "empty" }, "none");
    return el("table", { class: "kv" }, keys.map((k) =>
      el("tr", {}, el("th", {}, k), el("td", { class: numeric ? "num" : null }, fmt(numeric ? num(obj[k]) : obj[k])))));
  }
  function filesTable(entries) {
    if (!entries.length) return el("p", { class: "empty" }, "none");
    return el("table", { class: "files" }, el("tr", {}, el("th", {}, "path"), el("th", {}, "size"), el("th", {}, "hash")),
      entries.map((e) => el("tr", {}, el("td", {}, e.path),
        el("td", { class: "num" }, e.size === null ? "" : fmtSize(e.size) + (e.files !== undefined ? ` (${e.files} files)` : "")),
        el("td", { class: "hash" }, e.hash, e.note ? el("div", { class: "note" }, e.note) : ""))));
  }
  function patchView(run) {
    if (run.patch < 0) return el("p", { class: "empty" }, run.patch_note || (run.dirty ? "no changes" : "committed code: no uncommitted changes"));
    const pre = el("pre", { class: "diff" });
    for (const line of DATA.patches[run.patch].split("\n")) {
      const kind = line.startsWith("+++") || line.startsWith("---") || line.startsWith("diff ") ? "file"
        : line.startsWith("@@") ? "hunk" : line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : "ctx";
      pre.appendChild(el("span", { class: kind }, line + "\n"));
    }
    return [run.patch_note ? el("p", { class: "note" }, run.patch_note) : "", pre];
  }
  function runBody(run) {
    const images = run.outputs.filter((o) => o.image);
    const info = {
      id: run.id, commit: run.commit + (run.base_commit !== run.commit ? ` (ran on ${run.base_commit})` : ""),
      snapshot: run.snapshot, started: run.started, status: `${run.status} (exit ${run.exit_code}${run.signal ? ", " + run.signal : ""})`,
      duration: fmtDuration(run.duration_s), "cpu time": run.cpu_s === null ? undefined : run.cpu_s.toFixed(2) + " s",
      "peak memory": run.max_rss_bytes === null ? undefined : fmtSize(run.max_rss_bytes),
      dirty: run.dirty ? "yes: ran with uncommitted changes" : "no", by: `${run.user}@${run.host}`,
      cwd: run.cwd,
    };
    return el("div", { class: "run-body" },
      el("h4", {}, "Command"), el("pre", { class: "command" }, run.command),
      kvTable(info, false, true),
      el("div", { class: "cols" },
        el("div", {}, el("h4", {}, "Params"), kvTable(run.params, false)),
        el("div", {}, el("h4", {}, "Metrics"), kvTable(run.metrics, true)),
        el("div", {}, el("h4", {}, "Tags"), kvTable(run.tags, false))),
      Object.keys(run.steps).length ? [el("h4", {}, "Step metrics"), stepCharts([run])] : "",
      el("h4", {}, "Datasets"), filesTable(run.datasets),
      el("h4", {}, "Outputs"), filesTable(run.outputs),
      images.length ? el("div", { class: "images" }, images.map((o) =>
        el("figure", {}, el("img", { src: o.image, alt: o.path, "data-path": o.path,
          onload: (e) => e.target.setAttribute("data-loaded", e.target.naturalWidth) }), el("figcaption", {}, o.path)))) : "",
      el("h4", {}, "Environment"), kvTable(run.env, false),
      run.warnings.length ? [el("h4", {}, "Warnings"), el("ul", {}, run.warnings.map((w) => el("li", {}, w)))] : "",
      el("h4", {}, "Code change (uncommitted edits it ran with)"), patchView(run));
  }
  function buildRunSections() {
    const box = document.getElementById("runs");
    const eager = RUNS.length <= DATA.eager_sections; // else a section is built when opened
    for (const run of RUNS) {
      const details = el("details", { id: "run-" + run.id, class: "run", "data-run": run.id, open: eager && RUNS.length <= 10 ? "open" : null },
        el("summary", {}, el("span", { class: "run-title" }, label(run)), " ",
          el("code", {}, run.id.slice(0, 8)), " ", el("span", { class: "status-" + run.status }, run.status),
          " ", run.started.replace("T", " ").slice(0, 19)));
      if (eager) details.appendChild(runBody(run));
      else details.addEventListener("toggle", () => {
        if (details.open && details.children.length === 1) details.appendChild(runBody(run));
      });
      box.appendChild(details);
    }
  }
  function openRun(id) {
    const details = document.getElementById("run-" + id);
    if (!details) return;
    if (!details.open) details.open = true;
    if (details.children.length === 1) details.appendChild(runBody(RUNS.find((r) => r.id === id)));
    details.scrollIntoView();
  }

  // ------------------------------------------------------------ state in the URL
  // #sort=-metrics.auc&select=ID,ID&filter=text&open=ID: a view can be linked to.
  function loadHash() {
    const params = new URLSearchParams(location.hash.slice(1));
    const sort = params.get("sort");
    if (sort) { state.desc = sort.startsWith("-"); state.sort = sort.replace(/^-/, ""); }
    state.filter = params.get("filter") || "";
    if (params.get("rows")) state.limit = Math.max(1, parseInt(params.get("rows"), 10) || PAGE);
    if (params.get("all")) state.limit = Infinity;
    const wanted = (params.get("select") || "").split(",").filter((x) => x);
    for (const w of wanted) {
      const run = RUNS.find((r) => r.id === w || r.id.startsWith(w) || r.name === w);
      if (run && !state.selected.includes(run.id)) state.selected.push(run.id);
    }
    return params.get("open");
  }
  function saveHash() {
    const params = new URLSearchParams();
    if (state.sort) params.set("sort", (state.desc ? "-" : "") + state.sort);
    if (state.filter) params.set("filter", state.filter);
    if (state.selected.length) params.set("select", state.selected.map((id) => id.slice(0, 12)).join(","));
    try { history.replaceState(null, "", "#" + params.toString()); } catch (e) { /* file:// in some browsers */ }
  }

  // ------------------------------------------------------------------------ page
  function main() {
    const toOpen = loadHash();
    const filter = el("input", { type: "search", id: "filter", placeholder: "filter: words in name, id, command, params, tags",
      value: state.filter, oninput: (e) => { state.filter = e.target.value; refreshTable(); saveHash(); } });
    const where = DATA.where ? el("p", { class: "note" }, "Runs matching: ", el("code", {}, DATA.where)) : "";
    document.body.append(
      el("header", {}, el("h1", {}, DATA.title),
        el("p", { class: "note" }, `${RUNS.length} run(s) of ${DATA.total} in the repository; written ${DATA.generated.replace("T", " ").slice(0, 19)} UTC by gitrack report.`), where),
      el("section", { id: "table-section" }, el("h2", {}, "Runs ", el("small", { id: "shown-count" })),
        filter, el("div", { class: "scroll" }, buildTable()),
        el("button", { id: "show-more", type: "button", hidden: "hidden",
          onclick: () => { state.limit = Infinity; refreshTable(); } })),
      el("section", {}, el("h2", {}, "Comparison of the selected runs"), el("div", { id: "comparison" })),
      el("section", {}, el("h2", {}, "Step metrics"), el("div", { id: "step-charts" })),
      el("section", {}, el("h2", {}, "Params and metrics across runs"), el("div", { id: "plots" })),
      el("section", {}, el("h2", {}, "Each run"), el("div", { id: "runs" })),
      el("footer", {}, el("span", {}, "Content-Security-Policy violations: "), el("span", { id: "csp-violations" }, violations.join(" "))));
    for (const id of state.selected) {
      rows.get(id).querySelector("input").checked = true;
      rows.get(id).classList.add("selected");
    }
    buildRunSections();
    refreshTable();
    drawComparison();
    const open = toOpen && RUNS.find((r) => r.id.startsWith(toOpen));
    if (open) openRun(open.id);
    document.body.setAttribute("data-render-ms", String(Math.round(performance.now() - started)));
    document.body.setAttribute("data-drawn-at-ms", String(Math.round(performance.now())));
    document.body.setAttribute("data-ready", "1");
    // Painted: two animation frames after the drawing (what a person sees, for benchmarks).
    requestAnimationFrame(() => requestAnimationFrame(() =>
      document.body.setAttribute("data-painted-at-ms", String(Math.round(performance.now())))));
  }
  main();
})();
