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
from dataclasses import dataclass, field, replace
from pathlib import Path

import networkx as nx

from circuits.config import Baseline, EffectConfig, ThresholdConfig
from circuits.edges import edge_effects
from circuits.effects import NodeEffects, node_effects
from circuits.graph import build_graph, save_graph
from circuits.metrics import Metric
from circuits.runner import reachable_specs
from circuits.states import compute_means
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
    config: EffectConfig = EffectConfig(),
    thresholds: ThresholdConfig = ThresholdConfig(),
    edges: bool = True,
    progress: bool = True,
) -> Circuit:
    """Node effects, edges and graph of `metric` over `batches` (see the module docstring).

    `batches` yields dicts with `input_ids`, `attention_mask` [b, pos] and whatever the metric
    reads (e.g. `labels`); for a `patch` baseline also `patch_input_ids`/`patch_attention_mask`.
    A `mean` baseline without means gets the mean activations over the same batches.
    """
    batches = list(batches)
    if config.baseline.kind == "mean" and not config.baseline.means:
        names = [s.name for s in reachable_specs(lm, list(saes), metric)]
        means = compute_means(lm, saes, batches, names)
        config = replace(config, baseline=Baseline("mean", means))
    effects, grads = node_effects(
        lm, saes, batches, metric, config, keep_grads=edges, progress=progress
    )
    weights = (
        edge_effects(
            lm,
            saes,
            batches,
            metric,
            effects,
            config,
            thresholds.node_threshold,
            grads,
            progress=progress,
        )
        if edges
        else {}
    )
    meta = {
        "method": config.method if isinstance(config.method, str) else dict(config.method),
        "steps": config.steps,
        "ig_mode": config.ig_mode,
        "baseline": config.baseline.kind,
        "model": lm.name,
        "metric_reads": metric.reads,
    }
    graph = build_graph(effects, weights, thresholds, metric.name, effects.names, meta)
    return Circuit(graph=graph, effects=effects, edges=weights)
