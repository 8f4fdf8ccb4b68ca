"""`shift run`: the whole SHIFT pipeline for one SAE variant, ending in the results table."""

from __future__ import annotations

from pathlib import Path

import click

from shift.pipeline import DATASETS, SAE_VARIANTS, STAGES, RunConfig


@click.command("run")
@click.option("--dataset", default="bib", show_default=True, help=f"Task: {', '.join(DATASETS)}.")
@click.option(
    "--sae",
    default="ssae",
    show_default=True,
    help=f"Dictionaries to edit: {', '.join(SAE_VARIANTS)} (neurons = neuron skyline).",
)
@click.option(
    "--preset",
    default="paper",
    show_default=True,
    help="paper (Pythia-70M-deduped, hub data) or tiny (built-in offline world).",
)
@click.option(
    "--tilt",
    default=0.0,
    show_default=True,
    type=float,
    help="TERM tilt for SSAE finetuning; 0 is ERM (the paper uses 500 and 1e9).",
)
@click.option(
    "--seed", default=0, show_default=True, type=int, help="Run seed (probe, retrieval seeds)."
)
@click.option(
    "--out",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Report directory [default: runs/<dataset>-<sae>-<preset>].",
)
@click.option(
    "--model", default=None, help="Model hub id or local directory (overrides the preset)."
)
@click.option("--bib-path", default=None, help="Local Bias in Bios file/directory (LabHC schema).")
@click.option("--saes", default=None, help="General SAE folder (dictionary_learning layout).")
@click.option(
    "--corpus", default=None, help="Corpus for SAE training and retrieval (jsonl/parquet)."
)
@click.option(
    "--professions",
    default="professor,nurse",
    show_default=True,
    help="Profession pair A,B (names or LabHC ids).",
)
@click.option(
    "--retrieval",
    default="dense",
    show_default=True,
    help="Retrieval method: dense, bm25, dense+tracin, bm25+tracin.",
)
@click.option(
    "--features",
    "features_file",
    default=None,
    type=click.Path(exists=True, dir_okay=False),
    help="Ablate the features listed in this file (SUBMODULE/INDEX per line) instead of the skyline.",
)
@click.option(
    "--labels",
    default=None,
    type=click.Path(exists=True, dir_okay=False),
    help="JSONL of human feature labels shown in the circuit graph.",
)
@click.option(
    "--max-k", default=200, show_default=True, type=int, help="Skyline sweeps k = 1..max-k."
)
@click.option(
    "--circuit-examples",
    default=128,
    show_default=True,
    type=int,
    help="Examples for node effects.",
)
@click.option(
    "--ig-steps", default=10, show_default=True, type=int, help="Integrated-gradient steps."
)
@click.option(
    "--ig-mode",
    default="per_submodule",
    show_default=True,
    type=click.Choice(["per_submodule", "joint"]),
    help="IG interpolation: one submodule at a time (Marks et al.), or all together (faster).",
)
@click.option(
    "--max-per-group",
    default=None,
    type=int,
    help="Cap on each profession x gender group per split (quick runs).",
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
@click.option(
    "--force",
    multiple=True,
    type=click.Choice(STAGES),
    help="Recompute this stage (repeatable) even if cached; the old result stays until it is done.",
)
@click.option(
    "--verify",
    is_flag=True,
    help="Check cached artifacts by SHA-256 before reusing them (sizes are always checked).",
)
def run(out, **options):
    """Run every SHIFT stage and print the results table.

    Stages are cached under $SHIFT_HOME/stages by a key of their inputs: a rerun resumes from what
    is finished, and a changed option recomputes only what depends on it.
    """
    from shift.pipeline import run_pipeline

    options["force"] = tuple(options["force"])
    if out is None:
        out = Path("runs") / f"{options['dataset']}-{options['sae']}-{options['preset']}"
    cfg = RunConfig(out=out, **options)
    result = run_pipeline(cfg)
    click.echo("")
    click.echo(result["markdown"])
    click.echo(
        f"k = {result['k']} features ablated; total {result['timings']['total (this run)']:.1f}s"
    )
    click.echo(f"Report: {cfg.out / 'results.md'}  circuit: {cfg.out / 'circuit.svg'}")
