"""Sparse feature circuits (Marks et al. 2024): indirect effects of SAE features and error nodes
on a metric, edges between them, the circuit graph, its annotation and its picture.

    from circuits import EffectConfig, ThresholdConfig, compute_circuit
    from circuits import annotate_circuit, render_circuit
    c = compute_circuit(lm, saes, batches, metric, EffectConfig(steps=10), ThresholdConfig())
    annotate_circuit(c.graph, lm, saes, token_dataset)
    render_circuit(c.graph, "circuit.svg")

Modules: `config` (the settings, without torch), `metrics` (what is explained), `states` (clean
and patch values, baselines), `runner` (forward passes with edits), `effects` (attribution
patching and IG), `exact` (activation patching), `edges`, `circuit` (all of it), `data` (batches
from JSONL examples or a token dataset), `graph` (networkx and JSON), `annotate`, `render`.
The names below are imported on first use (`ssae.lazy`): `import circuits.config` stays light.
"""

from ssae.lazy import lazy_exports

EXPORTS = {
    "annotate_circuit": "circuits.annotate",
    "load_labels": "circuits.annotate",
    "logit_lens": "circuits.annotate",
    "top_contexts": "circuits.annotate",
    "Circuit": "circuits.circuit",
    "compute_circuit": "circuits.circuit",
    "Baseline": "circuits.config",
    "EffectConfig": "circuits.config",
    "ThresholdConfig": "circuits.config",
    "edge_effects": "circuits.edges",
    "node_id": "circuits.edges",
    "NodeEffects": "circuits.effects",
    "node_effects": "circuits.effects",
    "exact_effects": "circuits.exact",
    "build_graph": "circuits.graph",
    "effect_summary": "circuits.graph",
    "load_graph": "circuits.graph",
    "save_graph": "circuits.graph",
    "Metric": "circuits.metrics",
    "load_probe_metric": "circuits.metrics",
    "logit_diff": "circuits.metrics",
    "mean_pool": "circuits.metrics",
    "next_token_loss": "circuits.metrics",
    "probe_metric": "circuits.metrics",
    "render_circuit": "circuits.render",
    "compute_means": "circuits.states",
}
"""Name -> the module that defines it."""

__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
__all__ = sorted(EXPORTS)
