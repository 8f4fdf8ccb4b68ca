"""Stage `skyline`: which features the edit ablates, and what they are set to.

The candidates are ranked by the method's rule (`EditRecipe.ranking`): the circuit's gender effects
(Marks et al.; the feature skyline of the SSAE paper) or SAEBench's automatic score
(`shift.saebench`, no circuit). The top k for k = 1..max_k are ablated on the balanced dev set and
the k with the best profession accuracy is kept (`shift.skyline.sweep`); a features file replaces
the whole selection. A mean-ablating method (the neuron skyline) also gets the mean of every
feature over the balanced train examples the circuit reads.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from shift.stages.circuit import GenderEffects
from shift.stages.context import RunContext
from shift.stages.dictionaries import Dictionaries
from shift.stages.probes import ProbesResult, probe_config
from ssae.io import write_json


@dataclass(frozen=True)
class SelectionResult:
    """The chosen features."""

    key: str
    """Cache key of the stage."""
    dir: Path
    """Stage directory: `selection.json`, `skyline.png`, `means.safetensors`."""
    k: int
    """Number of features chosen."""
    features: list[str]
    """Chosen feature ids, `submodule/index`."""

    @property
    def fill(self) -> dict[str, torch.Tensor] | None:
        """Per submodule, the value of every feature when ablated; None sets them to zero."""
        path = self.dir / "means.safetensors"
        return load_file(str(path)) if path.exists() else None

    @property
    def plot(self) -> Path | None:
        path = self.dir / "skyline.png"
        return path if path.exists() else None


def run_selection(
    ctx: RunContext,
    saes: Dictionaries,
    probes: ProbesResult,
    gender_effects: GenderEffects | None,
) -> SelectionResult:
    sel, edit = ctx.cfg.selection, ctx.method.edit
    manual = Path(sel.features_file).read_text().splitlines() if sel.features_file else None
    inputs = {
        "saes": saes.key,
        "probes": probes.key,
        "gender_effects": gender_effects.key if gender_effects else None,
        "ranking": edit.ranking,
        "fill": edit.fill,
        "examples": ctx.cfg.circuit.examples,
        "max_k": sel.max_k,
        "manual": manual,
    }

    def fn(d: Path) -> dict:
        dicts = saes.load(ctx)
        if edit.fill == "mean":
            _save_means(ctx, dicts, d / "means.safetensors")
        if manual is not None:
            return _from_file(manual, dicts, sel.features_file, d)
        return _sweep(ctx, dicts, probes, gender_effects, d)

    stage = ctx.runner.run("skyline", inputs, fn)
    chosen = json.loads((stage.dir / "selection.json").read_text())
    return SelectionResult(stage.key, stage.dir, chosen["k"], chosen["features"])


def _from_file(lines: list[str], dicts, source: str, d: Path) -> dict:
    from shift.ablation import parse_feature_ids

    chosen = parse_feature_ids(lines, dicts)
    ids = [f"{k}/{i}" for k, v in chosen.items() for i in v.tolist()]
    write_json(d / "selection.json", {"k": len(ids), "features": ids, "source": source})
    return {"k": len(ids)}


def _sweep(ctx: RunContext, dicts, probes: ProbesResult, gender_effects, d: Path) -> dict:
    from probes.probe import load_probe
    from shift.skyline import plot_sweep, rank_features, sweep

    max_k = ctx.cfg.selection.max_k
    if gender_effects is not None:
        ranking = load_file(str(gender_effects.path))
    else:
        ranking = _saebench_scores(ctx, dicts)
    ranked = rank_features(ranking, top=max_k)
    probe = load_probe(probes.original_probe)
    dev = ctx.bib["dev"]
    fill = load_file(str(d / "means.safetensors")) if (d / "means.safetensors").exists() else None
    ev = ctx.evaluator(dicts, dev.select(dev.balanced), fill)
    ks = list(range(1, min(max_k, len(ranked)) + 1))
    labels = dev.profession[dev.balanced], dev.gender[dev.balanced]
    best_k, points = sweep(ev, ranked, probe.predict, *labels, ks)
    chosen = ranked[:best_k]
    write_json(
        d / "selection.json",
        {
            "k": best_k,
            "features": [r.id for r in chosen],
            "effects": [r.effect for r in chosen],
            "ranking": ctx.method.edit.ranking,
            "sweep": [asdict(p) for p in points],
        },
    )
    plot_sweep(points, best_k, d / "skyline.png", ctx.method.row_labels()[0])
    return {"k": best_k}


def _saebench_scores(ctx: RunContext, dicts) -> dict[str, torch.Tensor]:
    """SAEBench's score of every feature, with a gender probe trained on the balanced set."""
    from probes.activations import pooled_activations
    from probes.probe import train_probe
    from shift.saebench import mean_difference, scores

    train = ctx.bib["train"]
    texts, gender = train.select(train.balanced), train.gender[train.balanced]
    acts = pooled_activations(
        ctx.lm,
        texts,
        ctx.probe_submodule,
        max_length=ctx.preset.max_text_tokens,
        progress=False,
    )
    gender_probe = train_probe(acts, gender, probe_config(ctx))
    delta = mean_difference(ctx.lm, dicts, ctx.labelled_batches(texts, gender))
    weight = gender_probe.net.weight[0].detach()
    return {k: v.float() for k, v in scores(delta, dicts, weight).items()}


def _save_means(ctx: RunContext, dicts, path: Path) -> None:
    """Mean of every feature over the balanced train examples the circuit reads."""
    from circuits.states import compute_means

    train = ctx.bib["train"]
    bal = train.balanced[: ctx.cfg.circuit.examples]
    batches = ctx.labelled_batches(train.select(bal), train.gender[bal])
    means = compute_means(ctx.lm, dict(dicts), batches, list(dicts))
    save_file({k: v.f.reshape(-1).contiguous().float() for k, v in means.items()}, str(path))
