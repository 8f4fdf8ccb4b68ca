"""The circuit as a networkx DiGraph, and its JSON form.

Nodes (id -> attributes):

- feature `resid_out_layer3/123` (or `resid_out_layer3/123@5` with one node per position):
  kind="feature", submodule, feature=123, position (int or None), effect (float), label (str);
- error `resid_out_layer3/error`: kind="error", feature="error", the same other attributes;
- the metric `metric`: kind="metric", submodule=None, feature=None, effect=0.0, value (the mean
  clean metric), label (the metric's name).

Annotation (`circuits.annotate`) adds `top_tokens` (logit lens), `contexts` (top activating
contexts) and `human_label`, and sets `label` to the human label or the top tokens.

Edges (upstream -> downstream, towards the metric) carry `weight`, the linear-approximation edge
effect of `circuits.edges`. Graph attributes record how the circuit was computed (metric, method,
steps, thresholds, submodules in forward order, ...).

JSON: networkx node-link data with the key `edges`, plus a `format` tag; `load_graph` restores
the same graph (node and edge attributes, graph attributes).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import networkx as nx

from circuits.config import ThresholdConfig
from circuits.edges import METRIC, node_id
from circuits.effects import NodeEffects
from ssae.errors import DataError
from ssae.io import write_json

FORMAT = "shift-circuit/1"


def short_submodule(name: str) -> str:
    """`resid_out_layer3` -> `resid3`, `attn_out_layer0` -> `attn0`, `embed` -> `embed`."""
    for kind in ("resid", "attn", "mlp"):
        prefix = f"{kind}_out_layer"
        if name.startswith(prefix):
            return f"{kind}{name[len(prefix) :]}"
    return name


def default_label(submodule: str, feature: int | str, position: int | None) -> str:
    pos = "" if position is None else f" @{position}"
    core = "ε" if feature == "error" else f"#{feature}"
    return f"{short_submodule(submodule)} {core}{pos}"


def build_graph(
    effects: NodeEffects,
    edges: dict[tuple[str, str], float],
    thresholds: ThresholdConfig = ThresholdConfig(),
    metric_name: str = "metric",
    submodules: list[str] | None = None,
    meta: dict | None = None,
) -> nx.DiGraph:
    """Nodes with |effect| > node_threshold, edges between them with |weight| > edge_threshold."""
    node_threshold, edge_threshold = thresholds.node_threshold, thresholds.edge_threshold
    g = nx.DiGraph()
    order = submodules or effects.names
    g.graph.update(
        {
            "metric": metric_name,
            "aggregation": effects.aggregation,
            "node_threshold": node_threshold,
            "edge_threshold": edge_threshold,
            "n_examples": effects.n_examples,
            "metric_clean": _finite(effects.metric_clean),
            "metric_patch": _finite(effects.metric_patch),
            "submodules": list(order),
            **(meta or {}),
        }
    )
    for sub, feat, pos, eff in effects.nodes():
        if not math.isfinite(eff) or abs(eff) <= node_threshold:
            continue
        g.add_node(
            node_id(sub, feat, pos),
            kind="error" if feat == "error" else "feature",
            submodule=sub,
            feature=feat,
            position=pos,
            effect=float(eff),
            label=default_label(sub, feat, pos),
        )
    g.add_node(
        METRIC,
        kind="metric",
        submodule=None,
        feature=None,
        position=None,
        effect=0.0,
        value=_finite(effects.metric_clean),
        label=metric_name,
    )
    for (u, d), w in edges.items():
        if u in g and d in g and abs(w) > edge_threshold:
            g.add_edge(u, d, weight=float(w))
    return g


def _finite(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def graph_to_json(g: nx.DiGraph) -> dict:
    data = nx.node_link_data(g, edges="edges")
    return {"format": FORMAT, **data}


def graph_from_json(data: dict, where: str = "circuit") -> nx.DiGraph:
    """The graph of a circuit's JSON form, after checking it against the schema (module
    docstring): a one-line `DataError` naming the first node or edge that does not fit."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise DataError(f"{where} is not a circuit file (format {found!r}, expected {FORMAT})")
    _check_schema(data, where)
    data = {k: v for k, v in data.items() if k != "format"}
    return nx.node_link_graph(data, directed=True, multigraph=False, edges="edges")


def _check_schema(data: dict, where: str) -> None:
    nodes, edges = data.get("nodes"), data.get("edges")
    if not isinstance(nodes, list) or not isinstance(edges, list):
        raise DataError(f"{where}: a circuit file needs the lists 'nodes' and 'edges'")
    ids = set()
    for i, node in enumerate(nodes):
        problem = _node_problem(node)
        if problem:
            raise DataError(f"{where}: node {i} {problem}; recompute the circuit")
        ids.add(node["id"])
    for i, edge in enumerate(edges):
        ok = isinstance(edge, dict) and edge.get("source") in ids and edge.get("target") in ids
        if not ok or not _is_number(edge.get("weight")):
            raise DataError(
                f"{where}: edge {i} needs a source and a target among the nodes and a finite "
                "weight; recompute the circuit"
            )


def _node_problem(node: object) -> str | None:
    """What a node of the JSON form lacks, or None."""
    if not isinstance(node, dict) or not isinstance(node.get("id"), str):
        return "is not an object with a string 'id'"
    kind, feature, position = node.get("kind"), node.get("feature"), node.get("position")
    if kind not in ("feature", "error", "metric"):
        return f"({node['id']}) has kind {kind!r}, not feature, error or metric"
    if kind != "metric":
        if not isinstance(node.get("submodule"), str):
            return f"({node['id']}) names no submodule"
        good = feature == "error" if kind == "error" else _is_index(feature)
        if not good:
            return f"({node['id']}) has feature {feature!r}, not an index or 'error'"
        if position is not None and not _is_index(position):
            return f"({node['id']}) has position {position!r}, not an index or null"
    if not _is_number(node.get("effect")):
        return f"({node['id']}) has no finite effect"
    return None


def _is_index(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_number(value: object) -> bool:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and math.isfinite(value)


def save_graph(g: nx.DiGraph, path: str | os.PathLike) -> Path:
    """Write the circuit as JSON, atomically."""
    write_json(path, graph_to_json(g))
    return Path(path)


def load_graph(path: str | os.PathLike) -> nx.DiGraph:
    path = Path(path)
    if not path.exists():
        raise DataError(
            f"circuit file {path} does not exist; create it with `shift circuit compute`"
        )
    try:
        data = json.loads(path.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"circuit file {path} is not valid JSON ({e}); recompute it") from None
    except IsADirectoryError:
        raise DataError(f"circuit file {path} is a folder: pass the JSON file") from None
    return graph_from_json(data, f"circuit file {path}")


def effect_summary(g: nx.DiGraph) -> dict:
    """How the circuit's summed |effect| splits between feature nodes and error nodes: per kind
    the node count, the |effect| sum, its share of the total and the largest single |effect|
    (Marks et al. 2024 read a circuit whose features, not its errors, carry the effect)."""
    kinds = {"feature": [], "error": []}
    for _, a in g.nodes(data=True):
        if a.get("kind") in kinds:
            kinds[a["kind"]].append(abs(float(a["effect"])))
    total = sum(map(sum, kinds.values()))
    out = {}
    for kind, values in kinds.items():
        out[f"{kind}s"] = {
            "nodes": len(values),
            "abs_effect": sum(values),
            "share": sum(values) / total if total > 0 else None,
            "largest": max(values, default=0.0),
        }
    out["node_threshold"] = g.graph.get("node_threshold")
    return out
