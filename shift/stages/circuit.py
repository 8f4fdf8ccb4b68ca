"""Stages `gender-effects` and `circuit`: every feature's effect on gender, and the classifier's
sparse-feature circuit.

The gender effects: integrated-gradient node effects (Marks et al. 2024, eq. 3) of the
dictionaries' features on the Original probe's metric with gender as the label, over the balanced
set; they rank the skyline's candidates. The circuit (Marks et al., sec. 3): the same node effects
and the edges between them on the negative logit of the correct profession, over the ambiguous
set; annotated from the `feature-contexts` stage (no model pass of its own) and rendered for the
report (`CircuitConfig.graph`; `shift bench` leaves it out, since no row depends on it). Every
method ranks towards a zero patch, the neuron skyline included (Marks et al.'s code); a mean
ablation is applied only when the chosen features are edited.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from safetensors.torch import save_file

from shift.stages.context import RunContext
from shift.stages.dictionaries import Dictionaries
from shift.stages.feature_contexts import FeatureContextsResult
from shift.stages.probes import ProbesResult


@dataclass(frozen=True)
class CircuitResult:
    """The annotated circuit: `circuit.json` (`circuits.graph` JSON), `circuit.svg`, `.png`; the
    report adds the edit's ablated features and writes `circuit.html` (`circuits.view`)."""

    key: str
    """Cache key of the stage."""
    dir: Path
    """Stage directory."""


@dataclass(frozen=True)
class GenderEffects:
    """Indirect effect of every feature on the gender metric."""

    key: str
    """Cache key of the stage."""
    dir: Path
    """Stage directory."""

    @property
    def path(self) -> Path:
        """Effects per submodule [n_features] (safetensors)."""
        return self.dir / "gender_effects.safetensors"


def probe_metric_of(probe_file: Path, reads: str):
    """The Original probe as a circuit metric (its logit signed towards each example's label)."""
    from circuits.metrics import probe_metric
    from probes.probe import load_probe

    lin = load_probe(probe_file).net
    return probe_metric(
        lin.weight.detach().reshape(-1), lin.bias.detach().reshape(()), reads=reads, name="probe"
    )


def _effect_inputs(ctx: RunContext, saes: Dictionaries, probes: ProbesResult) -> dict:
    effects = ctx.cfg.effects
    return {
        "saes": saes.key,
        "probes": probes.key,
        "n": ctx.cfg.circuit.examples,
        "steps": effects.steps,
        "ig_mode": effects.ig_mode,
        "baseline": effects.baseline.kind,
    }


def run_gender_effects(ctx: RunContext, saes: Dictionaries, probes: ProbesResult) -> GenderEffects:
    from circuits.circuit import compute_circuit

    def fn(d: Path) -> dict:
        dicts = dict(saes.load(ctx))
        metric = probe_metric_of(probes.original_probe, ctx.probe_submodule)
        train = ctx.bib["train"]
        bal = train.balanced[: ctx.cfg.circuit.examples]
        batches = ctx.labelled_batches(train.select(bal), train.gender[bal])
        gender = compute_circuit(ctx.lm, dicts, batches, metric, ctx.cfg.effects, edges=False)
        effects = {k: v.contiguous().float() for k, v in gender.effects.features.items()}
        save_file(effects, str(d / "gender_effects.safetensors"))
        return {}

    stage = ctx.runner.run("gender-effects", _effect_inputs(ctx, saes, probes), fn)
    return GenderEffects(stage.key, stage.dir)


def circuit_title(ctx: RunContext) -> str:
    """The circuit picture's title: the preset and the method's row label."""
    label = ctx.method.row_labels(ctx.cfg.finetune.tilt, ctx.cfg.arch)[0]
    return f"Bias in Bios classifier circuit ({ctx.cfg.preset} preset, {label})"


def run_circuit(
    ctx: RunContext, saes: Dictionaries, probes: ProbesResult, contexts: FeatureContextsResult
) -> CircuitResult:
    from circuits.circuit import compute_circuit
    from circuits.feature_contexts import annotate_with_contexts
    from circuits.graph import save_graph
    from circuits.render import render_circuit

    circuit = ctx.cfg.circuit
    n = circuit.examples
    inputs = _effect_inputs(ctx, saes, probes) | {
        "node_threshold": circuit.node_threshold,
        "edge_threshold": circuit.edge_threshold,
        "labels": Path(circuit.labels).read_text() if circuit.labels else None,
        "feature_contexts": contexts.key,
    }

    def fn(d: Path) -> dict:
        dicts = dict(saes.load(ctx))
        metric = probe_metric_of(probes.original_probe, ctx.probe_submodule)
        train = ctx.bib["train"]
        # The classifier's circuit: ambiguous set, negative logit of the correct class.
        amb = train.ambiguous[:n]
        batches = ctx.labelled_batches(train.select(amb), train.profession[amb])
        graph = compute_circuit(ctx.lm, dicts, batches, metric, ctx.cfg.effects, circuit).graph
        annotate_with_contexts(graph, contexts.load(), ctx.lm.tokenizer, labels=circuit.labels)
        save_graph(graph, d / "circuit.json")
        for suffix in ("svg", "png"):
            render_circuit(graph, d / f"circuit.{suffix}", title=circuit_title(ctx))
        return {"nodes": graph.number_of_nodes(), "edges": graph.number_of_edges()}

    stage = ctx.runner.run("circuit", inputs, fn)
    return CircuitResult(stage.key, stage.dir)
