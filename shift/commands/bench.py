"""`shift bench`: SHIFT with several SAE variants over several seeds, as mean +- std."""

from __future__ import annotations

from pathlib import Path

import click

from shift.pipeline import SAE_VARIANTS

METRICS = ("worst_group_acc", "profession_acc", "gender_acc")


@click.command("bench")
@click.option("--dataset", default="bib", show_default=True, help="Task (bib).")
@click.option(
    "--saes",
    default="gsae,ssae,comp-gsae,comp-ssae",
    show_default=True,
    help=f"Comma-separated SAE variants from {', '.join(SAE_VARIANTS)}.",
)
@click.option(
    "--seeds", default=3, show_default=True, type=int, help="Number of run seeds (0..N-1)."
)
@click.option("--preset", default="paper", show_default=True, help="paper or tiny.")
@click.option(
    "--tilt", default=0.0, show_default=True, type=float, help="TERM tilt for SSAE variants."
)
@click.option(
    "--out",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output directory [default: runs/bench-<dataset>-<preset>].",
)
@click.option(
    "--max-k", default=200, show_default=True, type=int, help="Skyline sweeps k = 1..max-k."
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
@click.option(
    "--sae-eval/--no-sae-eval",
    default=False,
    show_default=True,
    help="Also evaluate every run's SAEs (L0, FVU, spliced CE); slow.",
)
def bench(dataset, saes, seeds, preset, tilt, out, max_k, device, sae_eval):
    """Compare SAE variants: worst-group, profession and gender accuracy over seeds.

    Writes bench.json, bench.md and bench.png (bar chart with std error bars) to --out; every run's
    own report lands in --out/<variant>-seed<N>/.
    """
    from shift.pipeline import RunConfig, run_pipeline
    from ssae.errors import ToolkitError

    variants = [v.strip() for v in saes.split(",") if v.strip()]
    bad = [v for v in variants if v not in SAE_VARIANTS]
    if bad or not variants:
        raise ToolkitError(f"unknown SAE variant(s) {bad}; choose from {', '.join(SAE_VARIANTS)}")
    if seeds < 1:
        raise ToolkitError("--seeds must be >= 1")
    out = out or Path("runs") / f"bench-{dataset}-{preset}"
    runs: list[dict] = []
    for seed in range(seeds):
        for v in variants:
            cfg = RunConfig(
                dataset=dataset,
                sae=v,
                preset=preset,
                tilt=tilt,
                seed=seed,
                out=out / f"{v}-seed{seed}",
                max_k=max_k,
                device=device,
                sae_eval=sae_eval,
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
    lines = [
        f"| method | worst group | profession | gender |   (mean +- std over {seeds} seeds)",
        "|---|---|---|---|",
    ]
    for r in table:
        cells = " | ".join(f"{100 * r[m]:.1f} +- {100 * r[m + '_std']:.1f}" for m in METRICS)
        lines.append(f"| {r['method']} | {cells} |")
    return "\n".join(lines) + "\n"


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
