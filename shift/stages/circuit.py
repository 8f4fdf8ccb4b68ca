"""Stage `circuit`: the classifier's sparse-feature circuit, and every feature's effect on gender.

The circuit (Marks et al. 2024, sec. 3): integrated-gradient node effects and edges of the
dictionaries' features and error nodes on the Original probe's metric, the negative logit of the
correct class, over the ambiguous set; annotated and rendered. The gender effects: the same node
effects with gender as the label, over the balanced set; they rank the skyline's candidates.
Every method ranks towards a zero patch, the neuron skyline included (Marks et al.'s code); a mean
ablation is applied only when the chosen features are edited.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from safetensors.torch import save_file

from shift.stages.context import RunContext
from shift.stages.dictionaries import Dictionaries
from shift.stages.probes import ProbesResult


@dataclass(frozen=True)
class CircuitResult:
    """The circuit's files."""

    key: str
    """Cache key of the stage."""
    dir: Path
    """Stage directory."""

    @property
    def graph(self) -> Path:
        """The annotated circuit (`circuits.graph` JSON); `circuit.svg`/`.png` beside it."""
        return self.dir / "circuit.json"

    @property
    def gender_effects(self) -> Path:
        """Indirect effect of every feature on the gender metric (safetensors, per submodule)."""
        return self.dir / "gender_effects.safetensors"


def probe_metric_of(probe_file: Path, reads: str):
    """The Original probe as a circuit metric (its logit signed towards each example's label)."""
    from circuits.metrics import probe_metric
    from probes.probe import load_probe

    lin = load_probe(probe_file).net
    return probe_metric(
        lin.weight.detach().reshape(-1), lin.bias.detach().reshape(()), reads=reads, name="probe"
    )


def run_circuit(ctx: RunContext, saes: Dictionaries, probes: ProbesResult) -> CircuitResult:
    from circuits.annotate import annotate_circuit
    from circuits.circuit import compute_circuit
    from circuits.graph import save_graph
    from circuits.render import render_circuit

    cfg, circuit, effects = ctx.cfg, ctx.cfg.circuit, ctx.cfg.effects
    n = circuit.examples
    inputs = {
        "saes": saes.key,
        "probes": probes.key,
        "n": n,
        "steps": effects.steps,
        "ig_mode": effects.ig_mode,
        "baseline": effects.baseline.kind,
        "node_threshold": circuit.node_threshold,
        "edge_threshold": circuit.edge_threshold,
        "labels": Path(circuit.labels).read_text() if circuit.labels else None,
    }

    def fn(d: Path) -> dict:
        dicts = dict(saes.load(ctx))
        metric = probe_metric_of(probes.original_probe, ctx.probe_submodule)
        train = ctx.bib["train"]
        fields = ("method", "steps", "ig_mode", "baseline", "max_tokens_per_pass")
        common = {f: getattr(effects, f) for f in fields}
        # The classifier's circuit: ambiguous set, negative logit of the correct class.
        amb = train.ambiguous[:n]
        batches = ctx.labelled_batches(train.select(amb), train.profession[amb])
        graph = compute_circuit(
            ctx.lm,
            dicts,
            batches,
            metric,
            node_threshold=circuit.node_threshold,
            edge_threshold=circuit.edge_threshold,
            **common,
        ).graph
        data = train.select(train.balanced[: 4 * n])
        graph = annotate_circuit(graph, ctx.lm, dicts, data=data, labels=circuit.labels)
        save_graph(graph, d / "circuit.json")
        labels = ctx.method.row_labels(ctx.cfg.finetune.tilt)
        title = f"Bias in Bios classifier circuit ({cfg.preset} preset, {labels[0]})"
        for suffix in ("svg", "png"):
            render_circuit(graph, d / f"circuit.{suffix}", title=title)

        # Gender effects over the balanced set rank the skyline's candidates.
        bal = train.balanced[:n]
        gbatches = ctx.labelled_batches(train.select(bal), train.gender[bal])
        gender = compute_circuit(ctx.lm, dicts, gbatches, metric, edges=False, **common)
        save_file(
            {k: v.contiguous().float() for k, v in gender.effects.features.items()},
            str(d / "gender_effects.safetensors"),
        )
        return {"nodes": graph.number_of_nodes(), "edges": graph.number_of_edges()}

    stage = ctx.runner.run("circuit", inputs, fn)
    return CircuitResult(stage.key, stage.dir)
