"""`shift probe`: the classifier SHIFT debiases, and the reference rows of the results table.

Trains and scores Original, CBP and Oracle (`shift.baselines`). Writes `results.json`
(`{"rows": [...], ...}`), `results.txt` (the table) and the trained probes (`probes/*.safetensors`)
into `--out`. Options shared with `shift run` come from the same configuration fields.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from probes.config import CBP_KEYWORDS, CBPConfig
from shift.commands.options import Opt, given, options
from shift.commands.run import run_options

SHARED = ("dataset", "preset", "model", "bib_path", "professions", "max_per_group", "device")
CBP_OPTIONS = (
    Opt(
        CBPConfig,
        "keywords",
        ("--cbp-keywords",),
        dest="cbp_keywords",
        default_text="the SSAE paper's 20",
    ),
    Opt(CBPConfig, "drop", ("--cbp-drop",), dest="cbp_drop"),
)


@click.command("probe")
@options(run_options(*SHARED))
@click.option(
    "--submodule",
    default=None,
    help="Probe site, e.g. resid_out_layer4 [default: penultimate residual stream].",
)
@options(CBP_OPTIONS)
@click.option(
    "--batch-size",
    type=int,
    default=32,
    show_default=True,
    help="Texts per forward pass when extracting activations.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Output directory [default: $SHIFT_HOME/runs/probe-<preset>].",
)
def probe(submodule, batch_size, out, **values):
    """Train and evaluate the Original, CBP and Oracle probes; write OUT/results.json."""
    from probes.metrics import format_table
    from shift.baselines import run_baselines
    from shift.config import DATASETS, RunConfig
    from shift.data.professions import parse_professions
    from shift.presets import get_preset
    from shift.validate import device as device_of
    from shift.validate import local_source, writable_dir
    from ssae.errors import ConfigError
    from ssae.io import shift_home

    opts = given(values, run_options(*SHARED))
    dataset, preset = opts.get("dataset", RunConfig.dataset), opts.get("preset", RunConfig.preset)
    if dataset not in DATASETS:
        raise ConfigError(f"unknown dataset {dataset!r}; supported: {', '.join(DATASETS)}")
    if opts.get("max_per_group") is not None and opts["max_per_group"] < 1:
        raise ConfigError("--max-per-group must be >= 1")
    p = get_preset(preset, model=opts.get("model"), bib=opts.get("bib_path"))
    pair = parse_professions(opts["professions"]) if "professions" in opts else p.professions
    p = dataclasses.replace(p, probe_submodule=submodule or p.probe_submodule, professions=pair)
    device = device_of(opts.get("device", "auto"))
    for option, value in (("--model", opts.get("model")), ("--bib-path", opts.get("bib_path"))):
        local_source(option, value)
    cbp = given(values, CBP_OPTIONS)
    cbp_config = CBPConfig(
        keywords=cbp.get("cbp_keywords", CBP_KEYWORDS),
        drop=cbp.get("cbp_drop", ()),
        probe=dataclasses.replace(p.probe, device=device),
    )
    out = writable_dir(Path(out) if out else shift_home() / "runs" / f"probe-{preset}")
    run = run_baselines(
        p,
        out,
        max_per_group=opts.get("max_per_group"),
        batch_size=batch_size,
        device=device,
        cbp_config=cbp_config,
    )
    a, b = run.data.profession_names
    click.echo(f"Bias in Bios {a} (0) vs {b} (1), probe at {run.submodule}; test split:")
    click.echo(format_table(run.rows), nl=False)
    click.echo(f"wrote {out / 'results.json'}")
