"""A random circuit graph of any size, annotated like a real one, for benchmarks and tests of the
code that draws and exports circuits (`circuits.view`, `circuits.neuronpedia`).

Nodes: `n_features` features spread over the submodules of an `n_layers` model (embed, then attn,
mlp, resid of every layer), one error node per submodule and the metric; each feature has an
effect of random sign with |effect| log-uniform in (node_threshold, 2], eight logit-lens tokens,
ten contexts with a marked token and an activation frequency. Edges: `n_edges` distinct pairs,
each from a node to a node of a later submodule or to the metric, with log-uniform |weight|.
"""

from __future__ import annotations

import networkx as nx
import numpy as np

from circuits.edges import METRIC, node_id
from circuits.graph import default_label

WORDS = "the nurse professor her his research hospital patient she he taught care".split()


def synthetic_circuit(
    n_features: int = 5000,
    n_edges: int = 50_000,
    n_layers: int = 6,
    node_threshold: float = 0.01,
    edge_threshold: float = 0.001,
    seed: int = 0,
) -> nx.DiGraph:
    """A random annotated circuit (see the module docstring)."""
    rng = np.random.default_rng(seed)
    subs = ["embed"] + [
        f"{k}_out_layer{i}" for i in range(n_layers) for k in ("attn", "mlp", "resid")
    ]
    g = nx.DiGraph(
        metric="probe",
        method="ig",
        steps=10,
        n_examples=128,
        metric_clean=-2.5,
        node_threshold=node_threshold,
        edge_threshold=edge_threshold,
        submodules=subs,
        contexts_source={"dataset": "synthetic", "n_tokens": 100_000},
    )
    row = rng.integers(0, len(subs), n_features)
    index = rng.choice(32768, n_features, replace=False)
    magnitude = np.exp(rng.uniform(np.log(node_threshold) + 1e-3, np.log(2.0), n_features))
    effect = magnitude * rng.choice([-1.0, 1.0], n_features)
    for r, j, e in zip(row.tolist(), index.tolist(), effect.tolist(), strict=True):
        sub = subs[r]
        tokens = [f" {WORDS[i]}" for i in rng.integers(0, len(WORDS), 8).tolist()]
        g.add_node(
            node_id(sub, j),
            kind="feature",
            submodule=sub,
            feature=j,
            position=None,
            effect=e,
            label=" · ".join(t.strip() for t in tokens[:4]),
            top_tokens=tokens,
            contexts=_contexts(rng, 10),
            frequency=float(rng.uniform(0.001, 0.2)),
        )
    for sub in subs:
        g.add_node(
            node_id(sub, "error"),
            kind="error",
            submodule=sub,
            feature="error",
            position=None,
            effect=float(rng.uniform(0.05, 1.0)),
            label=default_label(sub, "error", None),
            fvu=float(rng.uniform(0.05, 0.3)),
            l0=float(rng.uniform(10, 60)),
        )
    g.add_node(
        METRIC, kind="metric", submodule=None, feature=None, position=None, effect=0.0, value=-2.5
    )
    _add_edges(g, rng, subs, n_edges, edge_threshold)
    return g


def _contexts(rng: np.random.Generator, count: int) -> list[dict]:
    words = rng.integers(0, len(WORDS), (count, 14)).tolist()
    out = []
    for row, at, act in zip(words, rng.integers(8, 12, count).tolist(), rng.uniform(0.5, 8, count)):
        w = [WORDS[i] for i in row]
        text = " ".join(w[:at]) + " «" + w[at] + "» " + " ".join(w[at + 1 :])
        out.append({"text": text, "activation": float(act)})
    return out


def _add_edges(g: nx.DiGraph, rng, subs: list[str], n_edges: int, threshold: float) -> None:
    order = {s: i for i, s in enumerate(subs)}
    nodes = list(g.nodes)
    n = len(nodes)
    rank = np.array([order.get(g.nodes[v]["submodule"], len(subs)) for v in nodes])
    by_rank = np.argsort(rank, kind="stable")
    ranks = rank[by_rank]
    later = np.searchsorted(ranks, rank, side="right")  # first sorted slot of a later submodule
    possible = int((n - later).sum())
    if n_edges > possible:
        raise ValueError(f"{n_edges} edges asked for, but only {possible} forward pairs exist")
    pairs = np.zeros(0, dtype=np.int64)
    while len(pairs) < n_edges:
        a = rng.integers(0, n, 4 * n_edges)
        a = a[later[a] < n]
        b = by_rank[later[a] + (rng.random(len(a)) * (n - later[a])).astype(np.int64)]
        pairs = np.concatenate([pairs, a * n + b])
        _, first = np.unique(pairs, return_index=True)
        pairs = pairs[np.sort(first)]  # distinct pairs, in the order they were drawn
    pairs = pairs[:n_edges]
    w = np.exp(rng.uniform(np.log(threshold) + 1e-3, 0.0, n_edges)) * rng.choice(
        [-1.0, 1.0], n_edges
    )
    g.add_edges_from(
        (nodes[p // n], nodes[p % n], {"weight": float(x)})
        for p, x in zip(pairs.tolist(), w.tolist(), strict=True)
    )
