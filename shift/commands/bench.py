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
SOURCES = ("model", "bib_path", "sae_folder", "corpus", "professions")
"""`shift run`'s overrides of the preset's sources, also passed to every run."""
BENCH_OPTIONS = run_options(*SHARED) + run_options(*SOURCES)
"""The `shift run` options of a bench, generated once."""


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
@options(BENCH_OPTIONS)
def bench(methods, seeds, out, sae_eval, **shared):
    """Compare methods: worst-group, profession and gender accuracy over seeds.

    Writes bench.json, bench.md and bench.png (bar chart with std error bars) to --out after every
    run, so a bench stopped early keeps its table so far; every run's
    own report lands in --out/<method>-seed<N>/. A rerun into the same --out (after a kill, or
    with more seeds or methods) keeps the finished (method, seed) runs and does only the rest.
    """
    from shift.config import RunConfig
    from ssae.errors import ToolkitError

    chosen = [v.strip() for v in methods.split(",") if v.strip()]
    bad = [v for v in chosen if v not in CHOICES]
    if bad or not chosen:
        raise ToolkitError(f"unknown method(s) {bad}; choose from {', '.join(CHOICES)}")
    if seeds < 1:
        raise ToolkitError("--seeds must be >= 1")
    shared = given(shared, BENCH_OPTIONS)
    out = (
        out
        or Path("runs") / f"bench-{shared.get('dataset', 'bib')}-{shared.get('preset', 'paper')}"
    )
    first = RunConfig.from_options(method=chosen[0], **shared)
    settings = {
        "dataset": first.dataset,
        "preset": first.preset,
        "tilt": first.finetune.tilt,
        "max_k": first.selection.max_k,
        # Only when given, so that benches written before these options existed still resume.
        **{k: str(v) for k, v in shared.items() if k in SOURCES},
    }
    runs = finished_runs(out / "bench.json", settings)
    done = {(r["method_key"], r["seed"]) for r in runs}
    if done:
        click.echo(
            f"{len(done)} finished (method, seed) runs read from {out / 'bench.json'}", err=True
        )
    table = summarize(runs)
    from shift.pipeline import run_pipeline  # after the checks above: it imports the model stack

    for seed in range(seeds):
        for key in chosen:
            if (key, seed) in done:
                continue
            cfg = RunConfig.from_options(
                method=key,
                seed=seed,
                out=out / f"{key}-seed{seed}",
                sae_eval=sae_eval,
                circuit_graph=False,  # no row reads the graph; `shift run` draws it
                **shared,
            )
            result = run_pipeline(cfg, quiet=True)
            for row in result["rows"]:
                runs.append({"method_key": key, "seed": seed, "k": result["k"], **row})
            click.echo(f"seed {seed} {key}: k={result['k']}", err=True)
            # The table so far, after every run: a bench stopped early keeps what it measured.
            table = summarize(runs)
            write_bench(out, runs, table, seeds, settings)
    # Also when nothing was left to run (a finished or merged bench.json): the files match it.
    write_bench(out, runs, table, seeds, settings)
    click.echo(markdown(table, seeds))
    click.echo(f"Written: {out / 'bench.md'}, {out / 'bench.png'}")


def finished_runs(path: Path, settings: dict) -> list[dict]:
    """The rows of the runs an earlier bench with the same settings wrote to `path` (none if it
    does not exist)."""
    import json

    from ssae.errors import ToolkitError

    if not path.exists():
        return []
    try:
        previous = json.loads(path.read_text())
        runs = previous["runs"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ToolkitError(
            f"{path} is not a bench.json ({e}); delete it or choose another --out"
        ) from e
    _rename_old_keys(previous)
    if previous.get("settings") != settings:
        raise ToolkitError(
            f"{path} holds a bench with other settings ({previous.get('settings')}, now "
            f"{settings}); choose another --out or delete it"
        )
    return runs


def _rename_old_keys(bench: dict) -> None:
    """Benches written before the renames (`variant` -> `method_key`, `saes` -> `sae_folder`)
    still resume."""
    if isinstance(bench.get("settings"), dict) and "saes" in bench["settings"]:
        bench["settings"]["sae_folder"] = bench["settings"].pop("saes")
    for run in bench["runs"]:
        if "variant" in run:
            run["method_key"] = run.pop("variant")


def summarize(runs: list[dict]) -> list[dict]:
    """Per method: mean, sample std and 95% interval over seeds of each metric (baselines are
    shared by methods: counted once per seed), and for every method other than the Original and
    the Oracle its SCR score on worst group and on profession (below)."""
    by_method: dict[str, dict[int, dict]] = {}
    for r in runs:
        by_method.setdefault(r["method"], {})[r["seed"]] = r
    table = []
    # Baselines first, the SHIFT methods in the order run, the Oracle (the skyline) last.
    order = sorted(by_method, key=lambda m: m == "Oracle")
    for method in order:
        per_seed = by_method[method]
        row = {"method": method, "n": len(per_seed)}
        for m in METRICS:
            _describe(row, m, [r[m] for r in per_seed.values()])
        if method not in ("Original", "Oracle"):
            for m, label in (("worst_group_acc", "scr_worst"), ("profession_acc", "scr_prof")):
                scores = scr_scores(per_seed, by_method.get("Original"), by_method.get("Oracle"), m)
                if scores:
                    _describe(row, label, scores)
        table.append(row)
    return table


def scr_scores(method: dict, original: dict | None, oracle: dict | None, metric: str) -> list:
    """SAEBench's SCR per seed: (A_method - A_original) / (A_oracle - A_original), 0 for no
    change and 1 for the Oracle's accuracy; seeds whose Oracle does not beat the Original
    (an undefined score) are left out."""
    scores = []
    for seed, r in method.items():
        if original is None or oracle is None or seed not in original or seed not in oracle:
            continue
        a_orig, a_oracle = original[seed][metric], oracle[seed][metric]
        if a_oracle > a_orig:
            scores.append((r[metric] - a_orig) / (a_oracle - a_orig))
    return scores


def _describe(row: dict, name: str, vals: list[float]) -> None:
    """Mean, sample std and the t-based 95% interval of the mean (None for one seed)."""
    import statistics

    from scipy.stats import t

    mean = statistics.fmean(vals)
    std = statistics.stdev(vals) if len(vals) > 1 else 0.0
    row[name], row[f"{name}_std"] = mean, std
    if len(vals) > 1:
        half = float(t.ppf(0.975, len(vals) - 1)) * std / len(vals) ** 0.5
        row[f"{name}_ci95"] = [mean - half, mean + half]
    else:
        row[f"{name}_ci95"] = None


def markdown(table: list[dict], seeds: int) -> str:
    """Mean +- std in % per method and metric, the worst group's 95% interval, and SCR."""

    def interval(r, m, scale=100.0):
        ci = r.get(f"{m}_ci95")
        return f"[{scale * ci[0]:.1f}, {scale * ci[1]:.1f}]" if ci else "-"

    def scr(r, m):
        return f"{r[m]:.2f} {interval(r, m, 1.0)}" if m in r else "-"

    header = [
        "method",
        "worst group",
        "profession",
        "gender",
        "worst group 95% CI",
        "SCR worst [95% CI]",
        "SCR profession [95% CI]",
        "seeds",
    ]
    cells = [
        [
            r["method"],
            *(f"{100 * r[m]:.1f} +- {100 * r[m + '_std']:.1f}" for m in METRICS),
            interval(r, "worst_group_acc"),
            scr(r, "scr_worst"),
            scr(r, "scr_prof"),
            r["n"],
        ]
        for r in table
    ]
    note = (
        f"(mean +- std over up to {seeds} seeds, the number per row in its last column; 95% intervals of the mean from Student's t; "
        "SCR = (A - A_Original) / (A_Oracle - A_Original) per seed, SAEBench)"
    )
    return note + "\n\n" + markdown_table(header, cells)


def write_bench(out: Path, runs: list[dict], table: list[dict], seeds: int, settings: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from ssae.io import atomic_path, write_json, write_text

    write_json(
        out / "bench.json", {"seeds": seeds, "settings": settings, "table": table, "runs": runs}
    )
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
