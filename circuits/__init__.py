"""Sparse feature circuits (Marks et al. 2024): indirect effects of SAE features and error nodes
on a metric, edges between them, the circuit graph, its annotation and its picture.

    from circuits import compute_circuit, probe_metric, annotate_circuit, render_circuit
    c = compute_circuit(lm, saes, batches, metric, method="ig", steps=10)
    annotate_circuit(c.graph, lm, saes, token_dataset)
    render_circuit(c.graph, "circuit.svg")

Modules: `metrics` (what is explained), `states` (clean and patch values, baselines), `runner`
(forward passes with edits), `effects` (attribution patching and IG), `exact` (activation
patching), `edges`, `circuit` (all of it), `graph` (networkx and JSON), `annotate`, `render`.
"""

from circuits.annotate import annotate_circuit, load_labels, logit_lens, top_contexts
from circuits.circuit import Circuit, compute_circuit
from circuits.edges import edge_effects, node_id
from circuits.effects import EffectConfig, NodeEffects, node_effects
from circuits.exact import exact_effects
from circuits.graph import build_graph, load_graph, save_graph
from circuits.metrics import (
    Metric,
    load_probe_metric,
    logit_diff,
    mean_pool,
    next_token_loss,
    probe_metric,
)
from circuits.render import render_circuit
from circuits.states import Baseline, compute_means

__all__ = [
    "Baseline",
    "Circuit",
    "EffectConfig",
    "Metric",
    "NodeEffects",
    "annotate_circuit",
    "build_graph",
    "compute_circuit",
    "compute_means",
    "edge_effects",
    "exact_effects",
    "load_graph",
    "load_labels",
    "load_probe_metric",
    "logit_diff",
    "logit_lens",
    "mean_pool",
    "next_token_loss",
    "node_effects",
    "node_id",
    "probe_metric",
    "render_circuit",
    "save_graph",
    "top_contexts",
]
