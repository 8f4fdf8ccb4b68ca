"""`shift probe`: the classifier SHIFT debiases, and the reference rows of the results table.

Trains and scores Original, CBP and Oracle (`shift.baselines`). Writes `results.json` (`{"rows": [...], ...}`), `results.txt` (the table) and
the trained probes (`probes/*.safetensors`) into `--out`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click
import torch

from probes.cbp import CBP_KEYWORDS, CBPConfig
from probes.metrics import format_table
from probes.probe import ProbeConfig
from shift.baselines import run_baselines
from shift.data.bib import parse_professions
from shift.presets import PRESETS, get_preset
from shift.validate import DeviceParam
from ssae.errors import ToolkitError
from ssae.io import shift_home

DATASETS = ("bib",)


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
    "--cbp-drop",
    default=None,
    help="Comma-separated CBP concepts left out of the bottleneck after centring [default: none].",
)
@click.option(
    "--batch-size",
    type=int,
    default=32,
    show_default=True,
    help="Texts per forward pass when extracting activations.",
)
@click.option(
    "--device",
    default=None,
    type=DeviceParam(),
    help="cpu or cuda [default: cuda if available].",
)
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
    cbp_drop,
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
            keywords=_csv(cbp_keywords) or CBP_KEYWORDS,
            drop=_csv(cbp_drop) or (),
            probe=ProbeConfig(device=device, min_steps=p.probe_min_steps),
        )
    except ValueError as e:
        raise ToolkitError(f"--cbp-keywords/--cbp-drop: {e}") from e
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
