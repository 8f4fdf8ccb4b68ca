"""Drawing a circuit graph with graphviz (`dot`), to SVG or PNG.

Conventions of Marks et al.'s figures: layers go from bottom to top (rankdir=BT), one row per
submodule in forward order, named in a column on the left; features are rounded boxes, error
nodes triangles, the metric a diamond at the top. A node is blue for a positive effect and red for
a negative one, darker for a larger |effect| (relative to the largest in the graph); an edge has
the colour of its weight's sign and a width growing with |weight|. Each node shows its short name
(`resid3 #123`) and, when annotated, its label (human label or logit-lens tokens), truncated and
HTML-escaped; dot sizes every node to its text, so labels never overlap.
"""

from __future__ import annotations

import html
import os
import shutil
import unicodedata
from pathlib import Path

import graphviz
import networkx as nx

from circuits.graph import default_label, short_submodule
from ssae.errors import ToolkitError
from ssae.io import atomic_path

BLUE = (33, 102, 172)
RED = (178, 24, 43)
FORMATS = ("svg", "png", "pdf")


def _blend(rgb: tuple[int, int, int], t: float) -> str:
    """`rgb` mixed with white: t = 0 is white, t = 1 the full colour."""
    r, g, b = (round(255 + (c - 255) * t) for c in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def effect_color(value: float, scale: float) -> tuple[str, float]:
    """Fill colour of an effect and the shade t in [0.15, 1] it used."""
    t = 0.15 + 0.85 * min(abs(value) / scale, 1.0) if scale > 0 else 0.15
    return _blend(BLUE if value >= 0 else RED, t), t


def truncate(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


def printable(text: str) -> str:
    """Control characters (tokens can decode to them) as \\xNN: XML, hence dot, rejects them."""
    return "".join(
        f"\\x{ord(c):02x}" if unicodedata.category(c) in ("Cc", "Cs") else c for c in text
    )


def _html_label(lines: list[tuple[str, int, bool]]) -> str:
    """An HTML-like graphviz label from (text, point size, bold) lines, all escaped."""
    parts = []
    for text, size, bold in lines:
        body = html.escape(printable(text), quote=False)
        body = f"<B>{body}</B>" if bold else body
        parts.append(f'<FONT POINT-SIZE="{size}">{body}</FONT>')
    return "<" + "<BR/>".join(parts) + ">"


def limit_rows(graph: nx.DiGraph, max_per_row: int | None) -> tuple[nx.DiGraph, dict[str, int]]:
    """Keep the `max_per_row` nodes of largest |effect| of each submodule; count the rest."""
    if max_per_row is None:
        return graph, {}
    rows: dict[str, list[str]] = {}
    for n, a in graph.nodes(data=True):
        if a.get("kind") != "metric":
            rows.setdefault(a["submodule"], []).append(n)
    drop, hidden = [], {}
    for sub, nodes in rows.items():
        nodes.sort(key=lambda n: -abs(graph.nodes[n]["effect"]))
        if len(nodes) > max_per_row:
            drop += nodes[max_per_row:]
            hidden[sub] = len(nodes) - max_per_row
    if not drop:
        return graph, {}
    kept = graph.copy()
    kept.remove_nodes_from(drop)
    return kept, hidden


def to_dot(
    graph: nx.DiGraph,
    max_label: int = 28,
    title: str | None = None,
    max_per_row: int | None = 12,
) -> graphviz.Digraph:
    """The graphviz description of a circuit graph (see the module docstring).

    Only the `max_per_row` nodes of largest |effect| of each submodule are drawn (None: all); the
    row name says how many were left out.
    """
    graph, hidden = limit_rows(graph, max_per_row)
    dot = graphviz.Digraph("circuit")
    meta = graph.graph
    if title is None:
        bits = [str(meta.get("metric", "metric"))]
        if meta.get("method"):
            bits.append(
                f"{meta['method']}"
                + (f" ({meta['steps']} steps)" if meta.get("method") == "ig" else "")
            )
        if "node_threshold" in meta:
            bits.append(
                f"nodes |IE| > {meta['node_threshold']}, edges |IE| > {meta['edge_threshold']}"
            )
        bits.append("blue: positive, red: negative")
        title = " · ".join(bits)
    dot.attr(
        rankdir="BT",
        newrank="true",
        nodesep="0.25",
        ranksep="0.45",
        splines="spline",
        fontname="Helvetica",
        labelloc="t",
        label=title,
        fontsize="14",
    )
    dot.attr("node", fontname="Helvetica", penwidth="0.8", margin="0.08,0.04")
    dot.attr("edge", arrowsize="0.5")

    effects = [abs(a["effect"]) for _, a in graph.nodes(data=True) if a.get("kind") != "metric"]
    scale = max(effects, default=0.0)
    weights = [abs(w) for *_, w in graph.edges(data="weight")]
    wscale = max(weights, default=0.0)

    order = list(meta.get("submodules") or [])
    rows: dict[str, list[str]] = {}
    for n, a in graph.nodes(data=True):
        if a.get("kind") == "metric":
            continue
        sub = a["submodule"]
        rows.setdefault(sub, []).append(n)
        if sub not in order:
            order.append(sub)
    order = [s for s in order if s in rows]

    previous = None
    for sub in order:
        anchor = f"__row__{sub}"
        with dot.subgraph(name=f"row_{sub}") as row:
            row.attr(rank="same")
            name = short_submodule(sub) + (f"\n(+{hidden[sub]} more)" if sub in hidden else "")
            row.node(anchor, label=name, shape="plaintext", fontsize="11", fontcolor="#555555")
            for n in sorted(rows[sub], key=lambda n: -abs(graph.nodes[n]["effect"])):
                row.node(n, **_node_attrs(graph.nodes[n], scale, max_label))
        if previous is not None:
            dot.edge(previous, anchor, style="invis")
        previous = anchor

    for n, a in graph.nodes(data=True):
        if a.get("kind") == "metric":
            with dot.subgraph(name="row_metric") as row:
                row.attr(rank="max")
                row.node(n, **_node_attrs(a, scale, max_label))
            if previous is not None:
                dot.edge(previous, n, style="invis")

    for u, v, w in graph.edges(data="weight"):
        color, _ = effect_color(w, wscale)
        width = 0.6 + 4.4 * (abs(w) / wscale if wscale > 0 else 0.0)
        dot.edge(u, v, color=color, penwidth=f"{width:.2f}")
    return dot


def _node_attrs(a: dict, scale: float, max_label: int) -> dict[str, str]:
    kind = a.get("kind")
    if kind == "metric":
        value = a.get("value")
        lines = [(truncate(a.get("label", "metric"), max_label), 12, True)]
        if value is not None:
            lines.append((f"clean {value:.3g}", 9, False))
        return {
            "label": _html_label(lines),
            "shape": "diamond",
            "style": "filled",
            "fillcolor": "#eeeeee",
            "fontcolor": "#000000",
        }
    fill, t = effect_color(a["effect"], scale)
    head = default_label(a["submodule"], a["feature"], a.get("position"))
    lines = [(head, 10, True)]
    label = a.get("label") or ""
    if label and label != head:
        lines.append((truncate(label, max_label), 9, False))
    lines.append((f"{a['effect']:+.3g}", 8, False))
    attrs = {
        "label": _html_label(lines),
        "style": "filled",
        "fillcolor": fill,
        "fontcolor": "#ffffff" if t > 0.6 else "#000000",
    }
    if kind == "error":
        attrs.update(shape="triangle", margin="0.1,0.05")
    else:
        attrs.update(shape="box", style="rounded,filled")
    return attrs


def ensure_dot() -> None:
    if shutil.which("dot") is None:
        raise ToolkitError(
            "the graphviz `dot` program is not installed: run "
            "`apt-get update && apt-get install -y graphviz` (or your OS's graphviz package)"
        )


def render_circuit(
    graph: nx.DiGraph,
    path: str | os.PathLike,
    max_label: int = 28,
    title: str | None = None,
    max_per_row: int | None = 12,
) -> Path:
    """Render `graph` to `path`; the format (svg, png, pdf) comes from the file extension."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ToolkitError(f"cannot render to {path.name}: use a .svg, .png or .pdf file name")
    ensure_dot()
    dot = to_dot(graph, max_label=max_label, title=title, max_per_row=max_per_row)
    if fmt == "png":
        dot.attr(dpi="144")
    extra = {"renderer": "cairo"} if fmt == "png" else {}
    try:
        data = dot.pipe(format=fmt, **extra)
    except graphviz.ExecutableNotFound as e:
        raise ToolkitError("the graphviz `dot` program failed to start; reinstall graphviz") from e
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path
