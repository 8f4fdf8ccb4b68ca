"""`shift bench`: several methods over several seeds, as mean +- std."""

from __future__ import annotations

from pathlib import Path

import click

from shift.commands.options import given, options
from shift.commands.run import run_options
from shift.methods import CHOICES
from ssae.io import markdown_table

METRICS = ("worst_group_acc", "profession_acc", "gender_acc")
DEFAULT_METHODS = "gsae,ssae,comp-gsae,comp-ssae,gendered-words,saebench"
SHARED = ("dataset", "preset", "tilt", "max_k", "device")
"""`shift run` options a bench passes to every run."""


@click.command("bench")
@click.option(
    "--saes",
    "--methods",
    "methods",
    default=DEFAULT_METHODS,
    show_default=True,
    help=f"Comma-separated methods from {', '.join(CHOICES)}.",
)
@click.option(
    "--seeds", default=3, show_default=True, type=int, help="Number of run seeds (0..N-1)."
)
@click.option(
    "--out",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output directory [default: runs/bench-<dataset>-<preset>].",
)
@click.option(
    "--sae-eval/--no-sae-eval",
    default=False,
    show_default=True,
    help="Also evaluate every run's SAEs (L0, FVU, spliced CE); slow.",
)
@options(run_options(*SHARED))
def bench(methods, seeds, out, sae_eval, **shared):
    """Compare methods: worst-group, profession and gender accuracy over seeds.

    Writes bench.json, bench.md and bench.png (bar chart with std error bars) to --out; every run's
    own report lands in --out/<method>-seed<N>/.
    """
    from shift.config import RunConfig
    from shift.pipeline import run_pipeline
    from ssae.errors import ToolkitError

    chosen = [v.strip() for v in methods.split(",") if v.strip()]
    bad = [v for v in chosen if v not in CHOICES]
    if bad or not chosen:
        raise ToolkitError(f"unknown SAE variant(s) {bad}; choose from {', '.join(CHOICES)}")
    if seeds < 1:
        raise ToolkitError("--seeds must be >= 1")
    shared = given(shared, run_options(*SHARED))
    out = (
        out
        or Path("runs") / f"bench-{shared.get('dataset', 'bib')}-{shared.get('preset', 'paper')}"
    )
    runs: list[dict] = []
    for seed in range(seeds):
        for v in chosen:
            cfg = RunConfig.from_options(
                sae=v, seed=seed, out=out / f"{v}-seed{seed}", sae_eval=sae_eval, **shared
            )
            result = run_pipeline(cfg, quiet=True)
            for row in result["rows"]:
                runs.append({"variant": v, "seed": seed, "k": result["k"], **row})
            click.echo(f"seed {seed} {v}: k={result['k']}", err=True)
    table = summarize(runs)
    write_bench(out, runs, table, seeds)
    click.echo(markdown(table, seeds))
    click.echo(f"Written: {out / 'bench.md'}, {out / 'bench.png'}")


def summarize(runs: list[dict]) -> list[dict]:
    """Mean and std over seeds per method (baselines are shared by variants: counted once per seed)."""
    import statistics

    by_method: dict[str, dict[int, dict]] = {}
    for r in runs:
        by_method.setdefault(r["method"], {})[r["seed"]] = r
    table = []
    # Baselines first, the SHIFT variants in the order run, the Oracle (the skyline) last.
    order = sorted(by_method, key=lambda m: m == "Oracle")
    for method in order:
        per_seed = by_method[method]
        row = {"method": method, "n": len(per_seed)}
        for m in METRICS:
            vals = [r[m] for r in per_seed.values()]
            row[m] = statistics.fmean(vals)
            row[f"{m}_std"] = statistics.stdev(vals) if len(vals) > 1 else 0.0
        table.append(row)
    return table


def markdown(table: list[dict], seeds: int) -> str:
    """Mean +- std in % per method and metric."""
    header = ["method", "worst group", "profession", "gender"]
    cells = [
        [r["method"], *(f"{100 * r[m]:.1f} +- {100 * r[m + '_std']:.1f}" for m in METRICS)]
        for r in table
    ]
    return f"(mean +- std over {seeds} seeds)\n\n" + markdown_table(header, cells)


def write_bench(out: Path, runs: list[dict], table: list[dict], seeds: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from ssae.io import atomic_path, write_json, write_text

    write_json(out / "bench.json", {"seeds": seeds, "table": table, "runs": runs})
    write_text(out / "bench.md", "# shift bench\n\n" + markdown(table, seeds))
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(table)), 4))
    x = np.arange(len(table))
    width = 0.27
    for i, m in enumerate(METRICS):
        ax.bar(
            x + (i - 1) * width,
            [r[m] for r in table],
            width,
            yerr=[r[m + "_std"] for r in table],
            capsize=3,
            label=m.replace("_acc", "").replace("_", " "),
        )
    ax.set_xticks(x, [r["method"] for r in table], rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"accuracy (mean +- std, {seeds} seeds)")
    ax.axhline(0.5, color="lightgrey", lw=0.8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(out / "bench.png") as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
