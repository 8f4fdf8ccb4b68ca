"""`shift probe`: the classifier SHIFT debiases, and the reference rows of the results table.

On Bias in Bios (professions A, B; default professor, nurse) it trains on pooled activations of
the probe submodule (default: residual stream of the penultimate layer)

- Original: a linear probe on the ambiguous train set (male A vs female B), which can solve the
  task through gender alone - the spurious classifier;
- Oracle: a linear probe on the balanced train set with profession labels - the skyline;
- CBP: a concept bottleneck probe (`probes.cbp`) on the ambiguous train set whose gender concepts
  are removed from the bottleneck,

and reports profession, gender, worst-group and ambiguous accuracy on the test split
(`probes.metrics`). Writes `results.json` (`{"rows": [...], ...}`), `results.txt` (the table) and
the trained probes (`probes/*.safetensors`) into `--out`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import click
import torch

from probes.activations import default_submodule, pooled_activations
from probes.cbp import CBP_KEYWORDS, CBPConfig, ConceptBottleneckProbe, concept_vectors, train_cbp
from probes.metrics import ProbeMetrics, evaluate_predictions, format_table, write_results
from probes.probe import LinearProbe, ProbeConfig, save_probe, train_probe
from shift.data.bib import BibData, BibSplit, load_bib, parse_professions
from shift.presets import PRESETS, Preset, get_preset
from ssae.errors import ToolkitError
from ssae.io import shift_home, write_text
from ssae.models import LoadedModel, load_model

DATASETS = ("bib",)


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
    max_length: int,
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
    probe_config = probe_config or ProbeConfig(device=device)
    cbp_config = cbp_config or CBPConfig(probe=probe_config)
    data = load_bib(
        preset.bib, preset.professions, splits=("train", "test"), max_per_group=max_per_group
    )
    lm = load_model(preset.model, device=device) if lm is None else lm
    sub = preset.probe_submodule or default_submodule(lm)
    lm.submodule(sub)  # fail early, in one line, on a bad name
    train, test = data["train"], data["test"]
    act = dict(submodule=sub, batch_size=batch_size, max_length=preset.ctx_len, progress=progress)
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
            max_length=preset.ctx_len,
            sizes={"train": train.sizes(), "test": test.sizes()},
            cbp_concepts=cbp.names,
            cbp_dropped=[k for k in cbp_config.keywords if k not in cbp.names],
        )
        write_text(out / "results.txt", format_table(rows))
    return BaselineRun(rows=rows, probes=classifiers, data=data, submodule=sub, lm=lm)


def _csv(s: str | None) -> Sequence[str] | None:
    return None if s is None else tuple(x.strip() for x in s.split(",") if x.strip())


@click.command("probe")
@click.option("--dataset", default="bib", show_default=True, help="Dataset: bib (Bias in Bios).")
@click.option(
    "--preset",
    default="paper",
    show_default=True,
    help="paper (Pythia-70M-deduped + LabHC/bias_in_bios) or tiny (the built-in world).",
)
@click.option("--model", default=None, help="Model hub id or local directory (overrides preset).")
@click.option(
    "--bib-path",
    default=None,
    help="Local Bias in Bios file or directory (hard_text, profession, gender).",
)
@click.option(
    "--professions",
    default=None,
    help="Profession pair A,B by name or LabHC id [default: professor,nurse].",
)
@click.option(
    "--submodule",
    default=None,
    help="Probe site, e.g. resid_out_layer4 [default: penultimate residual stream].",
)
@click.option(
    "--max-per-group",
    type=int,
    default=None,
    help="Keep at most N examples per profession x gender group and split (quick runs).",
)
@click.option(
    "--cbp-keywords",
    default=None,
    help="Comma-separated CBP concepts [default: the SSAE paper's 20].",
)
@click.option(
    "--batch-size",
    type=int,
    default=32,
    show_default=True,
    help="Texts per forward pass when extracting activations.",
)
@click.option("--device", default=None, help="cpu or cuda [default: cuda if available].")
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Output directory [default: $SHIFT_HOME/runs/probe-<preset>].",
)
def probe(
    dataset,
    preset,
    model,
    bib_path,
    professions,
    submodule,
    max_per_group,
    cbp_keywords,
    batch_size,
    device,
    out,
):
    """Train and evaluate the Original, CBP and Oracle probes; write OUT/results.json."""
    if dataset not in DATASETS:
        raise ToolkitError(f"unknown dataset {dataset!r}; supported: {', '.join(DATASETS)}")
    if preset not in PRESETS:
        raise ToolkitError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if max_per_group is not None and max_per_group < 1:
        raise ToolkitError("--max-per-group must be >= 1")
    pair = parse_professions(professions) if professions else None
    p = get_preset(preset, model=model, bib=bib_path, probe_submodule=submodule, professions=pair)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        cbp_config = CBPConfig(
            keywords=_csv(cbp_keywords) or CBP_KEYWORDS, probe=ProbeConfig(device=device)
        )
    except ValueError as e:
        raise ToolkitError(f"--cbp-keywords: {e}") from e
    out = Path(out) if out else shift_home() / "runs" / f"probe-{preset}"
    run = run_baselines(
        p,
        out,
        max_per_group=max_per_group,
        batch_size=batch_size,
        device=device,
        cbp_config=cbp_config,
    )
    a, b = run.data.profession_names
    click.echo(f"Bias in Bios {a} (0) vs {b} (1), probe at {run.submodule}; test split:")
    click.echo(format_table(run.rows), nl=False)
    click.echo(f"wrote {out / 'results.json'}")
