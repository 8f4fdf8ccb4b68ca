// The circuit explorer's page script (circuits/view.py inlines it next to Plotly and the data).
// Plotly draws; this script only decides what is visible (thresholds, kind filters, search),
// builds the traces from the positions computed in Python, and fills the side panel's cards.
(function () {
  "use strict";
  performance.mark("circuit-view:start"); // Plotly and the page parsed
  const DATA = JSON.parse(document.getElementById("circuit-data").textContent);
  const meta = DATA.meta;
  const nodes = DATA.nodes;
  const edges = DATA.edges;
  const KINDS = ["embed", "attn", "mlp", "resid", "error"];
  const MARK_OPEN = "\u00ab";
  const MARK_CLOSE = "\u00bb";
  const plot = document.getElementById("plot");
  const $ = (id) => document.getElementById(id);

  const state = {
    nodeT: meta.node_threshold,
    edgeT: meta.edge_threshold_start,
    kinds: new Set(KINDS),
    matches: [],
    selected: null,
  };

  function hardwareWebGL() {
    // A software rasteriser fills long lines far slower than SVG does: count it as no WebGL.
    try {
      const gl = document.createElement("canvas").getContext("webgl");
      if (!gl) return false;
      const info = gl.getExtension("WEBGL_debug_renderer_info");
      const name = info ? String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL)) : "";
      return !/swiftshader|llvmpipe|software/i.test(name);
    } catch (e) {
      return false;
    }
  }
  const GL = meta.renderer === "webgl" || (meta.renderer === "auto" && hardwareWebGL());
  const SCATTER = GL ? "scattergl" : "scatter";

  // Links between nodes, for the card's strongest inputs and outputs.
  const incoming = nodes.map(() => []);
  const outgoing = nodes.map(() => []);
  edges.forEach((e, i) => {
    outgoing[e[0]].push(i);
    incoming[e[1]].push(i);
  });
  let maxEffect = 1e-12;
  for (const n of nodes) if (n.k !== "metric") maxEffect = Math.max(maxEffect, Math.abs(n.e));
  let maxWeight = 1e-12;
  for (const e of edges) maxWeight = Math.max(maxWeight, Math.abs(e[2]));
  const byKey = new Map();
  nodes.forEach((n, i) => {
    if (n.k === "feature") {
      const key = n.s + "/" + n.f;
      if (!byKey.has(key)) byKey.set(key, []);
      byKey.get(key).push(i);
    }
  });

  // ---------------------------------------------------------------- visibility

  function visible(i) {
    const n = nodes[i];
    if (n.k === "metric") return true;
    return state.kinds.has(n.g) && Math.abs(n.e) > state.nodeT;
  }

  function fmt(x) {
    if (x === null || x === undefined) return "n/a";
    const a = Math.abs(x);
    if (a !== 0 && (a < 1e-3 || a >= 1e4)) return x.toExponential(3);
    return x.toPrecision(4).replace(/(\.\d*?)0+$/, "$1").replace(/\.$/, ""); // 4 significant digits
  }

  function esc(s) {
    return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  function size(n) {
    if (n.k === "metric") return 18;
    return 6 + (16 * (n.b + 1)) / meta.levels;
  }

  function hover(n) {
    if (n.k === "metric") return esc(n.n) + "<br>clean " + fmt(n.v);
    let text = "<b>" + esc(n.n) + "</b><br>effect " + fmt(n.e);
    if (n.l && n.l !== n.n) text += "<br>" + esc(n.l);
    if (n.a) text += "<br>ablated by the edit";
    return text;
  }

  // ---------------------------------------------------------------- traces

  function markerTraces(list, name, symbol) {
    // one trace per colour (sign x size class): one style per trace draws much faster than a
    // style per point
    const groups = new Map();
    for (const i of list) {
      if (!groups.has(nodes[i].c)) groups.set(nodes[i].c, []);
      groups.get(nodes[i].c).push(i);
    }
    return Array.from(groups.values(), (group) => ({
      type: SCATTER,
      mode: "markers",
      name: name,
      meta: "nodes",
      x: group.map((i) => nodes[i].x),
      y: group.map((i) => nodes[i].y),
      customdata: group,
      hovertext: group.map((i) => hover(nodes[i])),
      hoverinfo: "text",
      marker: {
        symbol: symbol,
        color: nodes[group[0]].c,
        size: size(nodes[group[0]]),
        line: { width: 0.6, color: "#333" },
      },
    }));
  }

  function ringTrace(list, name, color, width, grow) {
    return {
      type: SCATTER,
      mode: "markers",
      name: name,
      meta: "overlay",
      x: list.map((i) => nodes[i].x),
      y: list.map((i) => nodes[i].y),
      customdata: list,
      hoverinfo: "skip",
      marker: {
        symbol: "circle-open",
        color: color,
        size: list.map((i) => size(nodes[i]) + grow),
        line: { width: width, color: color },
      },
    };
  }

  function edgeTraces(vis) {
    // 2 signs x 3 strength classes: one line trace each, segments separated by nulls
    const bins = [];
    for (let s = 0; s < 2; s++) for (let b = 0; b < 3; b++) bins.push({ x: [], y: [], n: 0 });
    for (const e of edges) {
      const w = e[2];
      if (!(Math.abs(w) > state.edgeT) || !vis[e[0]] || !vis[e[1]]) continue;
      const rel = Math.abs(w) / maxWeight;
      const bin = bins[(w >= 0 ? 0 : 3) + (rel < 1 / 3 ? 0 : rel < 2 / 3 ? 1 : 2)];
      const a = nodes[e[0]];
      const d = nodes[e[1]];
      bin.x.push(a.x, d.x, null);
      bin.y.push(a.y, d.y, null);
      bin.n += 1;
    }
    const style = [
      [0.7, 0.25],
      [1.5, 0.45],
      [3, 0.7],
    ];
    let drawn = 0;
    const traces = bins.map((bin, k) => {
      drawn += bin.n;
      const [width, alpha] = style[k % 3];
      const rgb = k < 3 ? "33,102,172" : "178,24,43";
      return {
        type: SCATTER,
        mode: "lines",
        meta: "edges",
        name: (k < 3 ? "positive" : "negative") + " edges",
        x: bin.x,
        y: bin.y,
        hoverinfo: "skip",
        showlegend: false,
        line: { width: width, color: "rgba(" + rgb + "," + alpha + ")" },
      };
    });
    return { traces: traces, drawn: drawn };
  }

  function labelled(list) {
    // the strongest nodes' names, at least LABEL_GAP pixels apart within a row at the current zoom
    const xa = plot._fullLayout && plot._fullLayout.xaxis;
    const gap = LABEL_GAP / (xa && xa._m ? Math.abs(xa._m) : 10);
    const rows = new Map();
    const out = [];
    const top = list.filter((i) => nodes[i].k !== "metric").sort((a, b) => Math.abs(nodes[b].e) - Math.abs(nodes[a].e));
    for (const i of top) {
      const n = nodes[i];
      const xs = rows.get(n.y) || [];
      if (xs.some((x) => Math.abs(x - n.x) < gap)) continue;
      xs.push(n.x);
      rows.set(n.y, xs);
      out.push(i);
      if (out.length === MAX_LABELS) break;
    }
    return out;
  }
  const LABEL_GAP = 75;
  const MAX_LABELS = 80;

  function labelTrace(list) {
    const top = labelled(list);
    return {
      type: "scatter",
      mode: "text",
      meta: "labels",
      x: top.map((i) => nodes[i].x),
      y: top.map((i) => nodes[i].y),
      text: top.map((i) => nodes[i].n),
      textposition: "top center",
      textfont: { size: 10, color: "#333" },
      hoverinfo: "skip",
      showlegend: false,
    };
  }

  function relabel() {
    // after a zoom or pan: more (or fewer) names fit; only the label trace changes
    const at = plot.data.findIndex((t) => t.meta === "labels");
    if (at < 0) return;
    const t = labelTrace(nodes.map((n, i) => i).filter(visible));
    lastDraw = Plotly.restyle(plot, { x: [t.x], y: [t.y], text: [t.text] }, [at]);
  }

  let drawnNodes = 0;
  let drawnEdges = 0;
  let pending = null;
  let lastDraw = Promise.resolve();

  function scheduleDraw() {
    // slider moves and keystrokes come faster than a large circuit redraws: one draw per frame
    if (!pending) pending = new Promise((resolve) => requestAnimationFrame(() => { pending = null; resolve(draw()); }));
    return pending;
  }

  function searchRing() {
    return ringTrace(state.matches.filter(visible), "search matches", "#1b9e4b", 2.5, 12);
  }

  function selectedRing() {
    const list = state.selected !== null && visible(state.selected) ? [state.selected] : [];
    return ringTrace(list, "selected", "#000", 2, 16);
  }

  function updateRing(t) {
    // a click or a search moves one ring: restyle that trace, not the whole picture
    const at = (plot.data || []).findIndex((d) => d.name === t.name);
    if (at < 0) return scheduleDraw();
    const update = { x: [t.x], y: [t.y], customdata: [t.customdata], "marker.size": [t.marker.size] };
    lastDraw = Plotly.restyle(plot, update, [at]);
    return lastDraw;
  }

  function draw() {
    const vis = nodes.map((n, i) => visible(i));
    const shown = [];
    vis.forEach((v, i) => v && shown.push(i));
    const feats = shown.filter((i) => nodes[i].k === "feature");
    const errors = shown.filter((i) => nodes[i].k === "error");
    const metric = shown.filter((i) => nodes[i].k === "metric");
    const e = edgeTraces(vis);
    const traces = e.traces.concat(
      markerTraces(feats, "features", "circle"),
      markerTraces(errors, "SAE errors", "triangle-up"),
      markerTraces(metric, "metric", "diamond"),
      [ringTrace(shown.filter((i) => nodes[i].a), "ablated by the edit", "#e08000", 3, 7),
      searchRing(),
      selectedRing(),
      labelTrace(shown)],
    );
    drawnNodes = shown.length;
    drawnEdges = e.drawn;
    const counts = $("counts");
    counts.dataset.nodes = String(drawnNodes);
    counts.dataset.edges = String(drawnEdges);
    counts.textContent = drawnNodes + " nodes, " + drawnEdges + " edges drawn (of " + nodes.length + ", " + edges.length + ")";
    lastDraw = Plotly.react(plot, traces, layout(), config);
    return lastDraw;
  }

  function layout() {
    return {
      uirevision: "circuit",
      hovermode: "closest",
      dragmode: "pan",
      showlegend: false,
      margin: { l: 72, r: 12, t: 12, b: 12 },
      xaxis: { visible: false, zeroline: false },
      yaxis: {
        tickvals: meta.rows.map((r, i) => i),
        ticktext: meta.rows,
        range: [-0.7, meta.rows.length - 0.3],
        zeroline: false,
        gridcolor: "#eeeeee",
      },
      plot_bgcolor: "#ffffff",
    };
  }
  const config = { scrollZoom: true, displaylogo: false, responsive: true };

  // ---------------------------------------------------------------- the card

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (k === "text") node.textContent = v;
      else if (k === "className") node.className = v;
      else node.setAttribute(k, v);
    });
    (children || []).forEach((c) => node.appendChild(typeof c === "string" ? document.createTextNode(c) : c));
    return node;
  }

  function nodeLink(i, text) {
    const a = el("a", { className: "node-link", text: text || nodes[i].n });
    a.addEventListener("click", () => select(i));
    return a;
  }

  function contextItem(ctx) {
    // ctx = [text with «token», activation]
    const text = ctx[0];
    const open = text.indexOf(MARK_OPEN);
    const close = text.indexOf(MARK_CLOSE, open + 1);
    const li = el("li", { className: "context" }, [el("span", { className: "act", text: fmt(ctx[1]) })]);
    if (open < 0 || close < 0) {
      li.appendChild(document.createTextNode(text));
      return li;
    }
    li.appendChild(document.createTextNode(text.slice(0, open)));
    li.appendChild(el("mark", { text: text.slice(open + 1, close) }));
    li.appendChild(document.createTextNode(text.slice(close + 1)));
    return li;
  }

  function linkList(title, list, end) {
    const top = list
      .slice()
      .sort((a, b) => Math.abs(edges[b][2]) - Math.abs(edges[a][2]))
      .slice(0, 6);
    if (!top.length) return null;
    const ul = el("ul");
    top.forEach((k) => {
      const other = edges[k][end];
      ul.appendChild(el("li", {}, [nodeLink(other), " " + fmt(edges[k][2])]));
    });
    return el("div", {}, [el("h2", { text: title }), ul]);
  }

  // The cards' text (logit-lens tokens, contexts) is most of the data and no drawing needs it:
  // it is parsed on the first card or token search, not while the page loads.
  let CARDS = null;
  function cardText(i) {
    if (CARDS === null) CARDS = JSON.parse(document.getElementById("circuit-cards").textContent);
    return CARDS[i] || { t: [], ctx: [] };
  }

  function showCard(i) {
    const n = Object.assign({}, nodes[i], cardText(i));
    const card = $("card");
    card.replaceChildren();
    card.dataset.node = n.id;
    const head = el("h2", { text: n.n });
    if (n.a) head.appendChild(el("span", { className: "badge", text: "ablated" }));
    card.appendChild(head);
    const rows = [];
    const row = (k, v) => rows.push(el("tr", {}, [el("td", { className: "muted", text: k }), el("td", { text: v })]));
    if (n.k === "metric") {
      row("metric", n.n);
      row("clean value", fmt(n.v));
    } else {
      row("kind", n.k === "error" ? "SAE reconstruction error" : "feature");
      row("submodule", n.s + (n.p === null || n.p === undefined ? "" : " @ position " + n.p));
      row("effect", fmt(n.e) + " on " + meta.metric);
      if (n.h) row("label", n.h);
      if (n.k === "error") {
        row("FVU of its SAE", fmt(n.fvu === undefined ? null : n.fvu));
        if (n.l0 !== undefined) row("L0 of its SAE", fmt(n.l0));
      }
      if (n.fq !== undefined) row("active on", (100 * n.fq).toPrecision(3) + "% of tokens");
      if (n.a && DATA.ablation.note) row("ablated by", DATA.ablation.note);
    }
    card.appendChild(el("table", { className: "kv" }, rows));
    if (n.k === "error" && meta.contexts_source) {
      card.appendChild(el("p", { className: "muted", text: "FVU measured on " + sourceText() }));
    }
    if (n.t && n.t.length) {
      card.appendChild(el("h2", { text: "Logit lens: top tokens" }));
      card.appendChild(el("div", { className: "tokens" }, n.t.map((t) => el("span", { text: t }))));
    }
    if (n.k === "feature") {
      const ctx = n.ctx || [];
      card.appendChild(el("h2", { text: "Top activating contexts (" + ctx.length + ")" }));
      if (meta.contexts_source) card.appendChild(el("p", { className: "muted", text: "from " + sourceText() }));
      card.appendChild(el("ul", { className: "contexts" }, ctx.map(contextItem)));
    }
    [linkList("Strongest inputs", incoming[i], 0), linkList("Strongest outputs", outgoing[i], 1)]
      .filter(Boolean)
      .forEach((d) => card.appendChild(d));
  }

  function sourceText() {
    const s = meta.contexts_source;
    return (s.dataset || "the dataset") + " (" + s.n_tokens + " tokens)";
  }

  function select(i) {
    state.selected = i;
    showCard(i);
    return updateRing(selectedRing());
  }

  // ---------------------------------------------------------------- search

  const SUB = { embed: "embed", attn: "attn_out_layer", mlp: "mlp_out_layer", resid: "resid_out_layer" };

  function subFromQuery(q) {
    const m = /^(embed|attn|mlp|resid)(?:_out_layer)?(\d*)$/.exec(q);
    if (!m) return null;
    return m[1] === "embed" ? "embed" : SUB[m[1]] + m[2];
  }

  function search(query) {
    const q = query.trim().toLowerCase();
    if (!q) return [];
    let m = /^#?(\d+)$/.exec(q);
    if (m) return nodes.map((n, i) => i).filter((i) => nodes[i].k === "feature" && String(nodes[i].f) === m[1]);
    m = /^([a-z_]+\d*)\s*[#/ ]\s*#?(\d+)$/.exec(q);
    if (m && subFromQuery(m[1])) {
      const sub = subFromQuery(m[1]);
      return nodes.map((n, i) => i).filter((i) => nodes[i].s === sub && String(nodes[i].f) === m[2]);
    }
    return nodes
      .map((n, i) => i)
      .filter((i) => {
        const n = cardText(i);
        if ((n.t || []).some((t) => t.toLowerCase().includes(q))) return true;
        return (n.ctx || []).some((c) => c[0].replace(MARK_OPEN, "").replace(MARK_CLOSE, "").toLowerCase().includes(q));
      });
  }

  function showMatches() {
    const shown = state.matches.filter(visible).length;
    $("search-result").textContent = $("search").value.trim()
      ? state.matches.length + " match" + (state.matches.length === 1 ? "" : "es") + (shown < state.matches.length ? " (" + shown + " drawn)" : "")
      : "";
    $("search-result").dataset.matches = String(state.matches.length);
  }

  // ---------------------------------------------------------------- controls

  function logScale(lo, hi) {
    lo = Math.max(lo, hi * 1e-6, 1e-12);
    hi = Math.max(hi, lo * 10);
    return {
      toValue: (pos) => lo * Math.pow(hi / lo, pos / 1000),
      toPos: (v) => Math.round((1000 * Math.log(Math.max(v, lo) / lo)) / Math.log(hi / lo)),
    };
  }

  function bindThreshold(inputId, sliderId, key, lo, hi) {
    const scale = logScale(lo, hi);
    const input = $(inputId);
    const slider = $(sliderId);
    input.value = String(state[key]);
    slider.value = String(scale.toPos(state[key]));
    input.addEventListener("change", () => {
      const v = parseFloat(input.value);
      if (!(v >= 0)) return;
      state[key] = v;
      slider.value = String(scale.toPos(v));
      draw();
    });
    slider.addEventListener("input", () => {
      state[key] = Math.max(lo, scale.toValue(+slider.value));
      input.value = state[key].toPrecision(3);
      scheduleDraw();
    });
  }

  function buildControls() {
    $("title").textContent = meta.title;
    const bits = ["metric: " + meta.metric];
    if (meta.method) bits.push("effects: " + (typeof meta.method === "string" ? meta.method : JSON.stringify(meta.method)) + (meta.steps ? " (" + meta.steps + " steps)" : ""));
    if (meta.n_examples) bits.push(meta.n_examples + " examples");
    if (meta.metric_clean !== null) bits.push("clean metric " + fmt(meta.metric_clean));
    bits.push("circuit: nodes |effect| > " + fmt(meta.node_threshold) + ", edges |weight| > " + fmt(meta.edge_threshold));
    if (meta.edge_threshold_start > meta.edge_threshold) bits.push("opened at the edge threshold that draws the strongest edges only: lower it to draw more");
    bits.push(GL ? "WebGL" : "SVG");
    $("meta").textContent = bits.join(" · ");
    bindThreshold("node-threshold", "node-slider", "nodeT", meta.node_threshold, maxEffect);
    bindThreshold("edge-threshold", "edge-slider", "edgeT", meta.edge_threshold, maxWeight);
    const kinds = $("kinds");
    KINDS.forEach((k) => {
      const box = el("input", { type: "checkbox", className: "kind-filter", value: k });
      box.checked = true;
      box.addEventListener("change", () => {
        if (box.checked) state.kinds.add(k);
        else state.kinds.delete(k);
        draw();
      });
      kinds.appendChild(el("label", {}, [box, " " + k + " "]));
    });
    $("search").addEventListener("input", () => {
      state.matches = search($("search").value);
      showMatches();
      updateRing(searchRing());
    });
    $("search").addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && state.matches.length) select(state.matches[0]);
    });
    buildAblated();
  }

  function buildAblated() {
    const box = $("ablated");
    const feats = DATA.ablation.features;
    if (!feats.length) return;
    box.appendChild(el("h2", { text: feats.length + " features ablated by the edit" }));
    if (DATA.ablation.note) box.appendChild(el("p", { text: DATA.ablation.note }));
    const ul = el("ul");
    feats.forEach((key) => {
      const at = byKey.get(key);
      const [sub, f] = key.split("/");
      const name = sub.replace(/_out_layer/, "") + " #" + f;
      ul.appendChild(el("li", {}, [at ? nodeLink(at[0], name) : el("span", { className: "muted", text: name })]));
    });
    box.appendChild(ul);
    const missing = feats.length - DATA.ablation.in_circuit.length;
    if (missing) box.appendChild(el("p", { className: "muted", text: missing + " of them are not in this circuit (below its node threshold)." }));
  }

  buildControls();
  performance.mark("circuit-view:data");
  draw().then(() => {
    performance.mark("circuit-view:drawn");
    relabel(); // the first labels were spaced before the axis scale was known
    plot.on("plotly_relayout", relabel);
    plot.on("plotly_click", (ev) => {
      const p = ev.points && ev.points[0];
      if (p && (p.data.meta === "nodes" || p.data.meta === "overlay")) select(p.customdata);
    });
    requestAnimationFrame(() =>
      requestAnimationFrame(() => {
        performance.mark("circuit-view:ready"); // drawn and painted
        window.circuitView.ready = true;
        window.circuitView.readyAt = performance.now();
        document.body.dataset.ready = "1";
      })
    );
  });

  // For tests and benchmarks: what is drawn, and the same actions as the controls.
  window.circuitView = {
    ready: false,
    readyAt: null,
    renderer: GL ? "webgl" : "svg",
    drawnNodes: () => drawnNodes,
    drawnEdges: () => drawnEdges,
    select: select,
    settled: () => (pending || Promise.resolve()).then(() => lastDraw).then(() => true),
    nodeIndex: (id) => nodes.findIndex((n) => n.id === id),
  };
})();
