"""The reference rows of the results table: Original, CBP and Oracle on Bias in Bios.

On professions A, B (default professor, nurse) the classifiers train on pooled activations of the
probe submodule (default: residual stream of the penultimate layer):

- Original: a linear probe on the ambiguous train set (male A vs female B), which can solve the
  task through gender alone - the spurious classifier;
- Oracle: a linear probe on the balanced train set with profession labels - the skyline;
- CBP: a concept bottleneck probe (`probes.cbp`) on the ambiguous train set, reading the input
  only through its similarity to the paper's 20 profession concepts,

and are scored on the test split (`probes.metrics`): profession, gender, worst-group and
ambiguous accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from probes.activations import default_submodule, pooled_activations
from probes.cbp import CBPConfig, ConceptBottleneckProbe, concept_vectors, train_cbp
from probes.metrics import ProbeMetrics, evaluate_predictions, format_table, write_results
from probes.probe import LinearProbe, ProbeConfig, save_probe, train_probe
from shift.data.bib import BibData, BibSplit, load_bib
from shift.presets import Preset
from ssae.io import write_text
from ssae.models import LoadedModel, load_model


@dataclass
class BaselineRun:
    """What `run_baselines` produced: table rows, trained classifiers, data and probe site."""

    rows: list[ProbeMetrics]
    probes: dict[str, LinearProbe | ConceptBottleneckProbe]
    data: BibData
    submodule: str
    lm: LoadedModel


def split_activations(
    lm: LoadedModel,
    split: BibSplit,
    rows: torch.Tensor,
    submodule: str,
    batch_size: int,
    max_length: int | None,
    progress: bool = True,
) -> torch.Tensor:
    """[len(split), d] pooled activations with the pool rows `rows` filled (others NaN)."""
    rows = torch.unique(rows)
    acts = pooled_activations(
        lm,
        split.select(rows),
        submodule,
        batch_size=batch_size,
        max_length=max_length,
        progress=progress,
        desc=f"{split.name} activations",
    )
    full = torch.full((len(split), acts.shape[1]), float("nan"))
    full[rows] = acts
    return full


def evaluate_split(method: str, pred: torch.Tensor, test: BibSplit) -> ProbeMetrics:
    groups = {test.group_name(k): v for k, v in test.groups.items()}
    return evaluate_predictions(
        method, pred, test.profession, test.gender, test.balanced, test.ambiguous, groups
    )


def run_baselines(
    preset: Preset,
    out: Path | None = None,
    max_per_group: int | None = None,
    batch_size: int = 32,
    device: str = "cpu",
    probe_config: ProbeConfig | None = None,
    cbp_config: CBPConfig | None = None,
    progress: bool = True,
    lm: LoadedModel | None = None,
) -> BaselineRun:
    """Train Original, CBP and Oracle on `preset`'s data and model; evaluate on the test split.

    `lm` reuses an already loaded model (it must be `preset.model`).
    """
    preset = preset.resolve("model", "bib")
    probe_config = probe_config or ProbeConfig(device=device, min_steps=preset.probe_min_steps)
    cbp_config = cbp_config or CBPConfig(probe=probe_config)
    data = load_bib(
        preset.bib, preset.professions, splits=("train", "test"), max_per_group=max_per_group
    )
    lm = load_model(preset.model, device=device) if lm is None else lm
    sub = preset.probe_submodule or default_submodule(lm)
    lm.submodule(sub)  # fail early, in one line, on a bad name
    train, test = data["train"], data["test"]
    act = dict(
        submodule=sub, batch_size=batch_size, max_length=preset.max_text_tokens, progress=progress
    )
    a_train = split_activations(lm, train, torch.cat([train.ambiguous, train.balanced]), **act)
    a_test = split_activations(lm, test, torch.arange(len(test)), **act)

    amb_x, amb_y = a_train[train.ambiguous], train.ambiguous_labels
    original = train_probe(amb_x, amb_y, probe_config)
    oracle = train_probe(a_train[train.balanced], train.profession[train.balanced], probe_config)
    concepts = concept_vectors(lm, cbp_config.keywords, sub)
    cbp = train_cbp(amb_x, amb_y, concepts, cbp_config)

    classifiers = {"Original": original, "CBP": cbp, "Oracle": oracle}
    rows = [evaluate_split(m, c.predict(a_test), test) for m, c in classifiers.items()]
    if out is not None:
        out = Path(out)
        meta = dict(model=preset.model, submodule=sub)
        save_probe(original, out / "probes" / "original.safetensors", **meta, set="ambiguous")
        save_probe(oracle, out / "probes" / "oracle.safetensors", **meta, set="balanced")
        cbp.save(out / "probes" / "cbp.safetensors")
        write_results(
            out / "results.json",
            rows,
            dataset="bib",
            preset=preset.name,
            model=str(preset.model),
            bib=str(preset.bib),
            professions=list(data.profession_names),
            submodule=sub,
            max_length=preset.max_text_tokens,
            sizes={"train": train.sizes(), "test": test.sizes()},
            cbp_concepts=cbp.names,
            cbp_dropped=[k for k in cbp_config.keywords if k not in cbp.names],
        )
        write_text(out / "results.txt", format_table(rows))
    return BaselineRun(rows=rows, probes=classifiers, data=data, submodule=sub, lm=lm)
