"""The circuit explorer: one self-contained HTML file that draws a circuit and lets a reader
filter it, search it and open a card per node, from disk, with no network and no server.

The drawing and the interaction (pan, zoom, hover, click, WebGL for 50,000 edges) are Plotly's:
its JavaScript bundle is read from the installed `plotly` package when the file is written and
inlined, next to the circuit's data (JSON) and the page's own small script
(`view_assets/circuit_view.js`: controls, filters, cards). What this module computes is data:

- positions by layer: one row per submodule in forward order (the embedding at the bottom, the
  metric, e.g. the probe, on top), and inside a row the nodes from the centre outwards by
  decreasing |effect|, so the strongest nodes of every row stand in one central column;
- each node's colour and size class (blue for a positive effect, red for a negative one, darker
  and larger for a larger |effect|, in `LEVELS` classes) and what its card shows: effect, logit-lens tokens, top
  activating contexts with the active token marked («token») and their activations, activation
  frequency; for an error node its dictionary's FVU and L0 (`circuits.feature_contexts`);
- which features an edit ablated (`ablated`, ids `submodule/index`; by default the circuit's own
  `ablated` attribute, which a SHIFT run's report records), ringed in the picture, and a note
  saying how they were chosen (`ablation_note`).

The page starts at the circuit's own node threshold (every node of the JSON drawn) and at the edge
threshold that draws the `max_edges` strongest edges; a node is drawn when |effect| > the node threshold and its kind (embed / attn / mlp / resid
/ error) is switched on, an edge when |weight| > the edge threshold and both ends are drawn.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

import networkx as nx

from circuits.graph import default_label, short_submodule
from circuits.render import effect_color
from ssae.errors import ToolkitError
from ssae.io import atomic_path

RENDERERS = ("auto", "webgl", "svg")
"""`webgl`: Plotly's scattergl traces; `svg`: plain scatter traces; `auto`: WebGL on a hardware
GPU, SVG where WebGL is missing or a software rasteriser (SwiftShader, llvmpipe), which fills
long edge lines 5-10x slower than SVG does (benchmarks/bench_circuit_view.py)."""
MAX_EDGES = 2000
"""Edges drawn when the page opens: the strongest, by raising the edge threshold (a reader lowers
it to draw more). Thousands of crossing lines are unreadable, and each costs paint time."""
KINDS = ("embed", "attn", "mlp", "resid", "error")
LEVELS = 5
"""Size (and shade) classes of the nodes, by |effect|."""


def plotly_js() -> str:
    """Plotly's minified bundle as shipped inside the installed `plotly` Python package."""
    try:
        from plotly.offline import get_plotlyjs
    except ImportError as e:
        raise ToolkitError("the circuit view needs the `plotly` package: pip install plotly") from e
    return get_plotlyjs()


def node_group(attrs: dict) -> str:
    """The filter group of a node: embed / attn / mlp / resid for features, error, or metric."""
    if attrs.get("kind") in ("error", "metric"):
        return attrs["kind"]
    return re.sub(r"\d+$", "", short_submodule(attrs["submodule"]))


def _rows(graph: nx.DiGraph) -> list[str]:
    """Submodules in forward order: the graph's recorded order, then any other that has nodes."""
    order = list(graph.graph.get("submodules") or [])
    for _, a in graph.nodes(data=True):
        sub = a.get("submodule")
        if a.get("kind") != "metric" and sub not in order:
            order.append(sub)
    return order


def _centre_out(count: int) -> list[float]:
    """x of the i-th node of a row: 0, 1, -1, 2, -2, ... (largest |effect| in the middle)."""
    return [(i + 1) // 2 * (1 if i % 2 else -1) for i in range(count)]


def _finite(x) -> float | None:
    return float(x) if x is not None and math.isfinite(float(x)) else None


def view_data(
    graph: nx.DiGraph,
    ablated: Iterable[str] | None = None,
    ablation_note: str | None = None,
    title: str | None = None,
    renderer: str = "auto",
    max_edges: int | None = MAX_EDGES,
) -> dict:
    """Everything the page draws and shows, as JSON-ready data (see the module docstring)."""
    if renderer not in RENDERERS:
        raise ToolkitError(f"renderer must be one of {', '.join(RENDERERS)}, got {renderer!r}")
    if ablated is None:
        ablated = graph.graph.get("ablated") or []
    ablation_note = ablation_note or graph.graph.get("ablation_note")
    ablated = list(dict.fromkeys(ablated))
    ablated_set = set(ablated)
    rows = _rows(graph)
    row_of = {sub: i for i, sub in enumerate(rows)}
    effects = [abs(a["effect"]) for _, a in graph.nodes(data=True) if a.get("kind") != "metric"]
    scale = max(effects, default=0.0)
    by_row: dict[str, list[str]] = {}
    for n, a in graph.nodes(data=True):
        if a.get("kind") != "metric":
            by_row.setdefault(a["submodule"], []).append(n)
    x_of: dict[str, float] = {}
    for members in by_row.values():
        members.sort(key=lambda n: -abs(graph.nodes[n]["effect"]))
        x_of.update(zip(members, _centre_out(len(members)), strict=True))

    nodes, index = [], {}
    for n, a in graph.nodes(data=True):
        index[n] = len(nodes)
        nodes.append(_node(n, a, scale, x_of.get(n, 0.0), row_of, len(rows), ablated_set))
    edges = [[index[u], index[v], float(w)] for u, v, w in graph.edges(data="weight")]
    meta = graph.graph
    edge_threshold = float(meta.get("edge_threshold") or 0.0)
    in_circuit = {f"{nd['s']}/{nd['f']}" for nd in nodes if nd["k"] == "feature"}
    return {
        "meta": {
            "title": title or f"Circuit: {meta.get('metric', 'metric')}",
            "metric": meta.get("metric", "metric"),
            "method": meta.get("method"),
            "steps": meta.get("steps"),
            "n_examples": meta.get("n_examples"),
            "metric_clean": _finite(meta.get("metric_clean")),
            "node_threshold": float(meta.get("node_threshold") or 0.0),
            "edge_threshold": edge_threshold,
            "edge_threshold_start": _start_threshold(edges, edge_threshold, max_edges),
            "contexts_source": meta.get("contexts_source"),
            "rows": [short_submodule(s) for s in rows] + [str(meta.get("metric", "metric"))],
            "renderer": renderer,
            "levels": LEVELS,
        },
        "ablation": {
            "features": ablated,
            "note": ablation_note,
            "in_circuit": [f for f in ablated if f in in_circuit],
        },
        "nodes": nodes,
        "edges": edges,
    }


def _start_threshold(edges: list, threshold: float, max_edges: int | None) -> float:
    """The smallest edge threshold >= `threshold` that draws at most `max_edges` edges."""
    if max_edges is None or len(edges) <= max_edges:
        return threshold
    weights = sorted((abs(e[2]) for e in edges), reverse=True)
    return max(threshold, weights[max_edges])


def _shade(effect: float, scale: float) -> dict:
    """A node's size class `b` (0..LEVELS-1, by sqrt(|effect| / largest |effect|)) and the colour
    of its class and sign (`circuits.render`'s blue/red scale at the class's upper edge). Nodes
    of one class share one style, so the page draws each class as one trace (per-point styles
    cost Plotly a sixth of the page's load time at 5,000 nodes)."""
    level = min(LEVELS - 1, int(LEVELS * math.sqrt(abs(effect) / scale))) if scale > 0 else 0
    upper = math.copysign(scale * ((level + 1) / LEVELS) ** 2, effect)
    return {"b": level, "c": effect_color(upper, scale)[0]}


def _node(n: str, a: dict, scale: float, x: float, row_of: dict, top: int, ablated: set) -> dict:
    kind = a.get("kind")
    if kind == "metric":
        return {
            "id": n,
            "k": "metric",
            "g": "metric",
            "s": None,
            "f": None,
            "e": 0.0,
            "x": 0.0,
            "y": top,
            "n": str(a.get("label", "metric")),
            "c": "#444444",
            "v": _finite(a.get("value")),
        }
    sub, feature = a["submodule"], a["feature"]
    out = {
        "id": n,
        "k": kind,
        "g": node_group(a),
        "s": sub,
        "f": feature,
        "p": a.get("position"),
        "e": float(a["effect"]),
        "x": x,
        "y": row_of[sub],
        "n": default_label(sub, feature, a.get("position")),
        "l": a.get("label") or "",
        **_shade(a["effect"], scale),
    }
    if a.get("human_label"):
        out["h"] = a["human_label"]
    if kind == "feature":
        out["t"] = list(a.get("top_tokens") or [])
        out["ctx"] = [[c["text"], float(c["activation"])] for c in a.get("contexts") or []]
        if a.get("frequency") is not None:
            out["fq"] = float(a["frequency"])
        if f"{sub}/{feature}" in ablated:
            out["a"] = 1
    else:
        for key in ("fvu", "l0"):
            if a.get(key) is not None:
                out[key] = _finite(a[key])
    return out


def _asset(name: str) -> str:
    return (resources.files("circuits") / "view_assets" / name).read_text(encoding="utf-8")


def _inline_js(code: str) -> str:
    """Script text that no `</script` inside a string can end early (`<\\/` is the same string)."""
    return re.sub(r"</(?=script)", lambda m: "<\\/", code, flags=re.IGNORECASE)


def _inline_json(data: dict | list) -> str:
    """JSON for a <script> element: every `<` escaped, so no text in it can end the element."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c")


def circuit_view_html(graph: nx.DiGraph, **options) -> str:
    """The page as one string; `options` as in `view_data`."""
    data = view_data(graph, **options)
    # the cards' text goes in its own element, which the page parses on the first card only
    cards = [{"t": n.pop("t", []), "ctx": n.pop("ctx", [])} for n in data["nodes"]]
    values = {
        "TITLE": html.escape(data["meta"]["title"]),
        "PLOTLY_JS": _inline_js(plotly_js()),
        "APP_JS": _inline_js(_asset("circuit_view.js")),
        "DATA": _inline_json(data),
        "CARDS": _inline_json(cards),
    }
    return re.sub(r"\{\{([A-Z_]+)\}\}", lambda m: values[m.group(1)], _asset("circuit_view.html"))


def write_circuit_view(graph: nx.DiGraph, path: str | os.PathLike, **options) -> Path:
    """Write the page to `path` (atomically); `options` as in `view_data`."""
    path = Path(path)
    page = circuit_view_html(graph, **options).encode("utf-8")
    with atomic_path(path) as tmp:
        tmp.write_bytes(page)
    return path
