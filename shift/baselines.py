"""Rows of the results table that train a classifier on the unedited model (`shift.methods`
probe recipes): Original, CBP, Oracle, and gendered-word deletion.

On professions A, B (default professor, nurse) each classifier trains on pooled activations of the
probe submodule (default: residual stream of the penultimate layer), as its recipe says:

- Original: a linear probe on the ambiguous train set (male A vs female B), which can solve the
  task through gender alone - the spurious classifier;
- Oracle: a linear probe on the balanced train set with profession labels - the skyline;
- CBP: a concept bottleneck probe (`probes.cbp`) on the ambiguous train set, reading the input
  only through its similarity to the paper's 20 profession concepts;
- gendered-word deletion: a linear probe on the ambiguous train set with pronouns, gendered names
  and titles deleted from every biography (`shift.data.scrub`), train and test alike,

and is scored on the test split (`probes.metrics`): profession, gender, worst-group and
ambiguous accuracy.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch

from probes.activations import default_submodule, pooled_activations
from probes.cbp import ConceptBottleneckProbe, concept_vectors, train_cbp
from probes.config import CBPConfig, ProbeConfig
from probes.metrics import ProbeMetrics, evaluate_predictions, format_table, write_results
from probes.probe import LinearProbe, save_probe, train_probe
from shift.data.bib import BibData, BibSplit, load_bib
from shift.methods import REFERENCE, Method, ProbeRecipe
from shift.presets import Preset
from ssae.io import stable_hash, write_text
from ssae.models import LoadedModel, load_model


@dataclass
class BaselineRun:
    """What `run_baselines` produced: table rows, trained classifiers, data and probe site."""

    rows: list[ProbeMetrics]
    probes: dict[str, LinearProbe | ConceptBottleneckProbe]
    data: BibData
    submodule: str
    lm: LoadedModel


def view(texts: list[str], recipe: ProbeRecipe) -> list[str]:
    """The biographies as the recipe's classifier reads them."""
    if recipe.text == "as written":
        return texts
    from shift.data.scrub import delete_gendered_words

    return [delete_gendered_words(t) for t in texts]


def words_fingerprint() -> str:
    """Identifies the gendered-word lists (part of a cache key)."""
    from shift.data.scrub import default_words

    words = default_words()
    return stable_hash([words.pronouns, words.titles, words.names])


def split_activations(
    lm: LoadedModel,
    split: BibSplit,
    rows: torch.Tensor,
    submodule: str,
    batch_size: int,
    max_length: int | None,
    progress: bool = True,
    recipe: ProbeRecipe = ProbeRecipe("ambiguous"),
) -> torch.Tensor:
    """[len(split), d] pooled activations with the pool rows `rows` filled (others NaN)."""
    rows = torch.unique(rows)
    acts = pooled_activations(
        lm,
        view(split.select(rows), recipe),
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
    methods: tuple[Method, ...] = REFERENCE,
    bib: BibData | None = None,
) -> BaselineRun:
    """Train `methods` (default Original, CBP, Oracle) on `preset`'s data and model; evaluate on
    the test split. `lm` and `bib` reuse an already loaded model and data of the preset."""
    preset = preset.resolve("model", "bib")
    probe_config = probe_config or dataclasses.replace(preset.probe, device=device)
    cbp_config = cbp_config or CBPConfig(probe=probe_config)
    data = bib or load_bib(
        preset.bib, preset.professions, splits=("train", "test"), max_per_group=max_per_group
    )
    lm = load_model(preset.model, device=device) if lm is None else lm
    sub = preset.probe_submodule or default_submodule(lm)
    lm.submodule(sub)  # fail early, in one line, on a bad name
    train, test = data["train"], data["test"]
    act = dict(
        submodule=sub, batch_size=batch_size, max_length=preset.max_text_tokens, progress=progress
    )
    seen: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def activations(recipe: ProbeRecipe) -> tuple[torch.Tensor, torch.Tensor]:
        """(train, test) activations of the recipe's view, computed once per view."""
        if recipe.text not in seen:
            rows = torch.cat([train.ambiguous, train.balanced])
            a_train = split_activations(lm, train, rows, recipe=recipe, **act)
            a_test = split_activations(lm, test, torch.arange(len(test)), recipe=recipe, **act)
            seen[recipe.text] = (a_train, a_test)
        return seen[recipe.text]

    classifiers, rows = {}, []
    for m in methods:
        a_train, a_test = activations(m.probe)
        idx = train.ambiguous if m.probe.train_set == "ambiguous" else train.balanced
        x, y = a_train[idx], train.profession[idx]
        if m.probe.classifier == "cbp":
            concepts = concept_vectors(lm, cbp_config.keywords, sub)
            classifiers[m.key] = train_cbp(x, y, concepts, cbp_config)
        else:
            classifiers[m.key] = train_probe(x, y, probe_config)
        rows.append(evaluate_split(m.label, classifiers[m.key].predict(a_test), test))
    if out is not None:
        _save(Path(out), preset, methods, classifiers, rows, data, sub, cbp_config)
    labelled = {m.label: classifiers[m.key] for m in methods}
    return BaselineRun(rows=rows, probes=labelled, data=data, submodule=sub, lm=lm)


def _save(out, preset, methods, classifiers, rows, data, sub, cbp_config) -> None:
    meta = dict(model=preset.model, submodule=sub)
    info = {}
    for m in methods:
        path = out / "probes" / f"{m.key}.safetensors"
        clf = classifiers[m.key]
        if isinstance(clf, ConceptBottleneckProbe):
            clf.save(path)
            info["cbp_concepts"] = clf.names
            info["cbp_dropped"] = [k for k in cbp_config.keywords if k not in clf.names]
        else:
            save_probe(clf, path, **meta, set=m.probe.train_set, text=m.probe.text)
    train, test = data["train"], data["test"]
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
        **info,
    )
    write_text(out / "results.txt", format_table(rows))
