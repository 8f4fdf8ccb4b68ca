"""A circuit in Neuronpedia's attribution-graph JSON schema, the format that circuit-tracer writes
and Neuronpedia's graph viewer reads (the schema's required fields: `metadata` with `slug`, `scan`,
`prompt_tokens`, `prompt`; `qParams`; `nodes` with `node_id`, `feature`, `layer`, `ctx_idx`,
`feature_type`, `jsNodeId`, `clerp`; `links` with `source`, `target`, `weight`).

How a sparse-feature circuit maps onto it:

- `layer`: "E" for the embedding, the layer index (as a string) for attn/mlp/resid of a layer,
  one past the last layer for the metric;
- `feature_type`: a feature of an attention output is "lorsa" (the viewer's attention-feature
  type), any other feature "cross layer transcoder" (its generic feature type); an error node is
  "lorsa error" or "mlp reconstruction error" likewise; the metric is the graph's one "logit"
  node, with p = 1 in its `clerp` (it is the whole target);
- `feature`: the dictionary's feature index, -1 for error and metric nodes (as circuit-tracer);
- `node_id` `<short submodule>_<feature>_<ctx>` (e.g. `resid3_123_0`), unique because the short
  submodule name (`attn3`, `mlp3`, `resid3`) tells the three dictionaries of a layer apart;
  `jsNodeId` the same with `-` before the position;
- `ctx_idx`: the token position for a per-position circuit; 0 for a circuit summed over positions,
  whose `prompt_tokens` is then one placeholder token (the circuit averages many examples, so
  there is no single prompt; `prompt` says what it was computed over);
- `clerp`: the human label or the logit-lens tokens; `links` are the circuit's edges, upstream to
  downstream, with the edge effect as `weight`;
- `qParams.pinnedIds`: the features an edit ablated, when the circuit records them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import networkx as nx

from circuits.graph import short_submodule
from ssae.io import write_json

SUMMED = "<all positions>"
"""The placeholder prompt token of a circuit summed over positions."""


def layer_of(submodule: str) -> int | None:
    """Transformer layer of a submodule name; None for the embedding."""
    m = re.search(r"_layer(\d+)$", submodule)
    return int(m.group(1)) if m else None


def feature_type(submodule: str, kind: str) -> str:
    attention = submodule.startswith("attn")
    if kind == "error":
        return "lorsa error" if attention else "mlp reconstruction error"
    return "lorsa" if attention else "cross layer transcoder"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "circuit"


def to_neuronpedia(graph: nx.DiGraph, slug: str, scan: str | None = None) -> dict:
    """The circuit as a Neuronpedia attribution-graph document (see the module docstring)."""
    meta = graph.graph
    positions = [a["position"] for _, a in graph.nodes(data=True) if a.get("position") is not None]
    summed = not positions
    prompt_tokens = [SUMMED] if summed else [f"<position {i}>" for i in range(max(positions) + 1)]
    layers = [layer_of(s) for s in meta.get("submodules") or []]
    top = max([x for x in layers if x is not None], default=-1) + 1
    ids, nodes = {}, []
    for n, a in graph.nodes(data=True):
        node = _node(a, top, meta.get("metric", "metric"))
        ids[n] = node["node_id"]
        nodes.append(node)
    links = [
        {"source": ids[u], "target": ids[v], "weight": float(w)}
        for u, v, w in graph.edges(data="weight")
    ]
    by_feature = {f"{a['submodule']}/{a['feature']}": ids[n] for n, a in graph.nodes(data=True)}
    pinned = [by_feature[f] for f in meta.get("ablated") or [] if f in by_feature]
    what = "summed over positions" if summed else "per position"
    examples = meta.get("n_examples")
    model = str(meta.get("model") or "model")
    return {
        "metadata": {
            "slug": _slug(slug),
            "scan": scan or _slug(Path(model).name),
            "prompt_tokens": prompt_tokens,
            "prompt": f"{meta.get('metric', 'metric')}: mean over {examples} examples, {what}",
            "info": {
                "description": meta.get("ablation_note") or "sparse feature circuit",
                "generator": {"name": "shift-toolkit", "version": _version()},
            },
            "generation_settings": {
                k: meta[k]
                for k in ("method", "steps", "ig_mode", "baseline", "aggregation", "n_examples")
                if meta.get(k) is not None
            }
            | {
                "node_threshold": meta.get("node_threshold"),
                "edge_threshold": meta.get("edge_threshold"),
                "model": model,
            },
        },
        "qParams": {
            "pinnedIds": pinned,
            "supernodes": [],
            "linkType": "both",
            "clickedId": pinned[0] if pinned else "",
            "sg_pos": "",
        },
        "nodes": nodes,
        "links": links,
    }


def _node(a: dict, top: int, metric: str) -> dict:
    ctx = a.get("position") or 0
    if a.get("kind") == "metric":
        return {
            "node_id": f"metric_-1_{ctx}",
            "feature": -1,
            "layer": str(top),
            "ctx_idx": ctx,
            "feature_type": "logit",
            "jsNodeId": f"metric_-1-{ctx}",
            "clerp": f'Output "{metric}" (p=1.000)',
            "is_target_logit": True,
            "token_prob": 1.0,
        }
    sub, kind = a["submodule"], a["kind"]
    layer = layer_of(sub)
    feature = -1 if kind == "error" else int(a["feature"])
    short = short_submodule(sub)
    return {
        "node_id": f"{short}_{feature}_{ctx}",
        "feature": feature,
        "layer": "E" if layer is None else str(layer),
        "ctx_idx": ctx,
        "feature_type": feature_type(sub, kind),
        "jsNodeId": f"{short}_{feature}-{ctx}",
        "clerp": str(a.get("human_label") or (a.get("label") if kind == "feature" else "") or ""),
        "effect": float(a["effect"]),
    }


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("shift-toolkit")
    except PackageNotFoundError:
        return "unknown"


def export_neuronpedia(
    graph: nx.DiGraph, path: str | os.PathLike, slug: str | None = None, scan: str | None = None
) -> Path:
    """Write `to_neuronpedia(graph)` to `path` as JSON (atomically); the slug defaults to the
    file name."""
    path = Path(path)
    write_json(path, to_neuronpedia(graph, slug or path.stem, scan))
    return path
