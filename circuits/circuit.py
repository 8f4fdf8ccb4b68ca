"""`compute_circuit`: node effects, edges and the thresholded graph in one call.

Steps (Marks et al. 2024, sec. 2-3): (1) node effects of every feature and error node of every
submodule on the metric (`circuits.effects`), aggregated over the batches; (2) the nodes with
|effect| > node_threshold; (3) edge weights between those nodes (`circuits.edges`), reusing the
gradients of step 1; (4) the graph of the nodes and of the edges with |weight| > edge_threshold
(`circuits.graph`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx

from circuits.edges import edge_effects
from circuits.effects import EffectConfig, NodeEffects, node_effects
from circuits.graph import build_graph, save_graph
from circuits.metrics import Metric
from circuits.runner import reachable_specs
from circuits.states import Baseline, compute_means
from ssae.dictionary import Dictionary
from ssae.models import LoadedModel


@dataclass
class Circuit:
    """A computed circuit: the graph plus every node effect and every computed edge."""

    graph: nx.DiGraph
    effects: NodeEffects
    """Effects of all nodes (not only those above the threshold)."""
    edges: dict[tuple[str, str], float] = field(default_factory=dict)
    """Edge weights between the nodes above the node threshold, before the edge threshold."""

    def save(self, path: str | os.PathLike) -> Path:
        return save_graph(self.graph, path)


def compute_circuit(
    lm: LoadedModel,
    saes: dict[str, Dictionary],
    batches: Iterable[dict],
    metric: Metric,
    method: str | dict[str, str] = "ig",
    steps: int = 10,
    node_threshold: float = 0.1,
    edge_threshold: float = 0.01,
    aggregation: str = "sum",
    baseline: str | Baseline = "zero",
    ig_mode: str = "per_submodule",
    edges: bool = True,
    max_tokens_per_pass: int = 8192,
    progress: bool = True,
) -> Circuit:
    """Node effects, edges and graph of `metric` over `batches` (see the module docstring).

    `batches` yields dicts with `input_ids`, `attention_mask` [b, pos] and whatever the metric
    reads (e.g. `labels`); for `baseline="patch"` also `patch_input_ids`/`patch_attention_mask`.
    `baseline="mean"` computes the mean activations over the same batches.
    """
    batches = list(batches)
    if isinstance(baseline, str):
        if baseline == "mean":
            names = [s.name for s in reachable_specs(lm, list(saes), metric)]
            baseline = Baseline("mean", compute_means(lm, saes, batches, names))
        else:
            baseline = Baseline(baseline)
    cfg = EffectConfig(
        method=method,
        steps=steps,
        ig_mode=ig_mode,
        baseline=baseline,
        aggregation=aggregation,
        max_tokens_per_pass=max_tokens_per_pass,
    )
    effects, grads = node_effects(
        lm, saes, batches, metric, cfg, keep_grads=edges, progress=progress
    )
    weights = (
        edge_effects(
            lm, saes, batches, metric, effects, cfg, node_threshold, grads, progress=progress
        )
        if edges
        else {}
    )
    meta = {
        "method": method if isinstance(method, str) else dict(method),
        "steps": steps,
        "ig_mode": ig_mode,
        "baseline": baseline.kind,
        "model": lm.name,
        "metric_reads": metric.reads,
    }
    graph = build_graph(
        effects, weights, node_threshold, edge_threshold, metric.name, effects.names, meta
    )
    return Circuit(graph=graph, effects=effects, edges=weights)
