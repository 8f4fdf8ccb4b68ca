"""`shift bench`: methods x SAE architectures x GSAE training seeds x run seeds, with intervals.

The experiment, its statistics and its files are `shift.bench` and `shift.bench_stats`; this
module parses the options and runs the cells.
"""

from __future__ import annotations

from pathlib import Path

import click

from shift.commands.options import given, options
from shift.commands.run import run_options
from shift.methods import CHOICES
from ssae.arch_config import ARCH_NAMES

DEFAULT_METHODS = "gsae,ssae,comp-gsae,comp-ssae,gendered-words,saebench"
SHARED = ("dataset", "preset", "tilt", "max_k", "device")
"""`shift run` options a bench passes to every run."""
SOURCES = ("model", "bib_path", "sae_folder", "corpus", "professions")
"""`shift run`'s overrides of the preset's sources, also passed to every run."""
BENCH_OPTIONS = run_options(*SHARED) + run_options(*SOURCES)
"""The `shift run` options of a bench, generated once."""


def _names(text: str, known: tuple[str, ...], what: str) -> list[str]:
    from ssae.errors import ToolkitError

    chosen = [v.strip() for v in text.split(",") if v.strip()]
    bad = [v for v in chosen if v not in known]
    if bad or not chosen:
        raise ToolkitError(f"unknown {what}(s) {bad}; choose from {', '.join(known)}")
    return chosen


@click.command("bench")
@click.option(
    "--methods",
    "--saes",
    "methods",
    default=DEFAULT_METHODS,
    show_default=True,
    help=f"Comma-separated methods from {', '.join(CHOICES)} (--saes: older spelling).",
)
@click.option(
    "--archs",
    default="relu",
    show_default=True,
    help=f"Comma-separated SAE architectures of the SAE methods, from {', '.join(ARCH_NAMES)} "
    "(each needs a setting in the preset).",
)
@click.option(
    "--sae-seeds",
    default=1,
    show_default=True,
    type=int,
    help="Number of GSAE training seeds (0..N-1), crossed with the run seeds.",
)
@click.option(
    "--seeds", default=3, show_default=True, type=int, help="Number of run seeds (0..M-1)."
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
@click.option(
    "--bootstrap",
    "n_reps",
    default=2000,
    show_default=True,
    type=int,
    help="Replicates of the hierarchical bootstrap behind every interval.",
)
@options(BENCH_OPTIONS)
def bench(methods, archs, sae_seeds, seeds, out, sae_eval, n_reps, **shared):
    """Compare methods and SAE architectures: worst-group, profession and gender accuracy.

    Intervals come from a hierarchical bootstrap over GSAE training seeds, run seeds and test
    examples; the table adds paired differences against each row's ReLU counterpart and SCR.

    Writes bench.json, bench.md and bench.png to --out after every run (a bench stopped early
    keeps what it measured); every run's own report lands in --out/<cell>/. A rerun into the same
    --out keeps the finished cells and runs the rest; runs computed from another world, code,
    preset or torch are refused.
    """
    from shift.config import RunConfig
    from shift.validate import check_run
    from ssae.errors import ToolkitError

    chosen = _names(methods, CHOICES, "method")
    arch_list = _names(archs, ARCH_NAMES, "architecture")
    if seeds < 1 or sae_seeds < 1:
        raise ToolkitError("--seeds and --sae-seeds must be >= 1")
    if n_reps < 100:
        raise ToolkitError("--bootstrap must be >= 100 replicates")
    shared = given(shared, BENCH_OPTIONS)
    out = (
        out
        or Path("runs") / f"bench-{shared.get('dataset', 'bib')}-{shared.get('preset', 'paper')}"
    )
    first = RunConfig.from_options(method=chosen[0], **shared)
    # The sources and options every cell shares, checked once before any cell's work begins.
    check_run(first, first.sourced_preset())
    settings = {
        "dataset": first.dataset,
        "preset": first.preset,
        "tilt": first.finetune.tilt,
        "max_k": first.selection.max_k,
        **{k: str(v) for k, v in shared.items() if k in SOURCES},
    }

    def run_cell(cell) -> dict:
        cfg = RunConfig.from_options(
            method=cell.method,
            arch=cell.arch,
            sae_seed=cell.sae_seed,
            seed=cell.seed,
            out=out / cell.name,
            sae_eval=sae_eval,
            saebench_scr=True,
            circuit_graph=False,  # no row reads the graph; `shift run` draws it
            **shared,
        )
        from shift.pipeline import run_pipeline  # after the checks: it imports the model stack

        return run_pipeline(cfg, quiet=True)

    from shift.bench import markdown, plan, run_bench  # after the checks: it imports torch
    from shift.provenance import for_run

    cells = plan(chosen, arch_list, sae_seeds, seeds)
    expected = for_run(first.sourced_preset())
    result = run_bench(
        out, cells, settings, run_cell, lambda m: click.echo(m, err=True), n_reps, expected
    )
    click.echo(markdown(result))
    click.echo(f"Written: {out / 'bench.md'}, {out / 'bench.png'}")
