"""`shift circuit`: compute a sparse feature circuit and draw it.

    shift circuit compute --model DIR --sae-folder DIR --data data.jsonl --metric logit-diff \
        --out c.json
    shift circuit render c.json --out graph.svg      (or graph.png)

`--data` is a JSONL file of examples or a token dataset folder (`circuits.data` lists the JSONL
fields: `text`, and `patch`, `label`, `correct` / `incorrect` as the baseline and metric need).
`--metric` is `logit-diff`, `loss` (next-token cross-entropy; works on plain token datasets) or
`probe:PATH` (a linear probe in safetensors, reading the submodule named by `--reads` or by the
file's `submodule` metadata). The command parses and prints; the data loading
(`circuits.data`), the metric (`circuits.metrics.metric_from_spec`) and the computation
(`circuits.compute_circuit`) are the library's.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

from circuits.config import METRIC_SPECS, Baseline, EffectConfig, ThresholdConfig
from shift import validate
from shift.commands.options import Opt, configure, given, options, path_option
from shift.validate import DeviceParam
from ssae.errors import ToolkitError

EFFECT_OPTIONS = (
    Opt(EffectConfig, "method", default_text="ig"),
    Opt(EffectConfig, "steps"),
    Opt(EffectConfig, "ig_mode"),
    Opt(Baseline, "kind", ("--baseline",), dest="baseline"),
    Opt(EffectConfig, "aggregation"),
    Opt(ThresholdConfig, "node_threshold"),
    Opt(ThresholdConfig, "edge_threshold"),
)
"""Options generated from the configurations that own them (defaults and help written there)."""


@click.group()
def circuit():
    """Feature circuits: node and edge effects of SAE features on a metric, and their graph."""


def _check_examples(data: Path) -> None:
    """`--data` at the door: a token dataset folder, or JSONL examples with a `text` field."""
    if data.is_dir():
        validate.token_dataset(data)
    else:
        validate.corpus_file(data, "text", "--data", (".jsonl",))


@circuit.command()
@click.option("--model", required=True, help="Model id or local directory.")
@path_option(
    "--sae-folder", "saes_dir", required=True, help="SAE set folder (dictionary_learning)."
)
@path_option("--data", required=True, help="JSONL examples or a token dataset folder.")
@click.option("--metric", "metric_spec", default="logit-diff", show_default=True, help=METRIC_SPECS)
@click.option(
    "--reads", default=None, help="Submodule a probe metric reads (default: probe metadata)."
)
@options(EFFECT_OPTIONS)
@click.option("--batch-size", default=8, show_default=True)
@click.option("--max-length", default=128, show_default=True, help="Tokens per example.")
@click.option("--max-examples", default=None, type=int, help="Use only the first N examples.")
@click.option(
    "--annotate/--no-annotate",
    default=True,
    show_default=True,
    help="Add logit-lens tokens and top contexts (from --data) to the feature nodes.",
)
@path_option("--labels", help='JSONL of labels: {"feature": "resid_out_layer3/123", "label": ...}.')
@click.option(
    "--device", default="cpu", show_default=True, type=DeviceParam(), help="torch device."
)
@click.option("--force", is_flag=True, help="Recompute even if --out holds this circuit.")
@path_option("--out", required=True, help="Circuit JSON file.")
def compute(
    model,
    saes_dir,
    data,
    metric_spec,
    reads,
    batch_size,
    max_length,
    max_examples,
    annotate,
    labels,
    device,
    force,
    out,
    **values,
):
    """Compute node effects, edges and the thresholded circuit graph; write it as JSON."""
    from circuits import annotate_circuit, compute_circuit, load_graph, save_graph
    from circuits.data import load_batches
    from circuits.metrics import metric_from_spec
    from ssae.content import source_key
    from ssae.io import stable_hash
    from ssae.models import load_model
    from ssae.sae_set import SAESet

    # Every setting is checked (one line each) before anything is loaded.
    chosen = given(values, EFFECT_OPTIONS)
    config = configure(
        EffectConfig, chosen, EFFECT_OPTIONS, baseline=configure(Baseline, chosen, EFFECT_OPTIONS)
    )
    thresholds = configure(ThresholdConfig, chosen, EFFECT_OPTIONS)
    # ... and every file, before the model loads
    names = list(validate.sae_folder(saes_dir, model=model))
    _check_examples(data)
    human = validate.labels(labels, names) if labels is not None else None
    validate.writable_dir(out.parent, "--out's folder")
    metric = metric_from_spec(metric_spec, reads)
    key = stable_hash(
        dict(
            # what the inputs hold, not where they are: a changed file is a new circuit
            model=source_key(model),
            saes=source_key(saes_dir),
            data=source_key(data),
            metric=metric_spec,
            reads=reads,
            effects=asdict(config),
            thresholds=asdict(thresholds),
            max_length=max_length,
            max_examples=max_examples,
            annotate=annotate,
            labels=source_key(labels) if labels is not None else None,
        )
    )
    if out.exists() and not force:
        try:
            if load_graph(out).graph.get("config_hash") == key:
                click.echo(f"{out} already holds this circuit (use --force to recompute)")
                return
        except ToolkitError:
            pass
    lm = load_model(model, device=device)
    saes = SAESet.load(saes_dir, lm, device=device)
    batches, annotation_data = load_batches(lm, data, batch_size, max_length, max_examples)
    result = compute_circuit(lm, dict(saes), batches, metric, config, thresholds)
    graph = result.graph
    if annotate or labels is not None:
        annotate_circuit(graph, lm, dict(saes), annotation_data if annotate else None, human)
    graph.graph["config_hash"] = key
    save_graph(graph, out)
    n_feat = sum(1 for _, a in graph.nodes(data=True) if a["kind"] == "feature")
    n_err = sum(1 for _, a in graph.nodes(data=True) if a["kind"] == "error")
    click.echo(
        f"wrote {out}: {n_feat} feature and {n_err} error nodes, {graph.number_of_edges()} edges "
        f"over {result.effects.n_examples} examples (clean {metric.name} "
        f"{result.effects.metric_clean:.4g})"
    )


@circuit.command()
@click.argument("circuit_json", type=click.Path(path_type=Path))
@path_option("--out", required=True, help="Image file: .svg, .png or .pdf (format by extension).")
@path_option("--labels", help="JSONL of human labels to show on the nodes.")
@click.option(
    "--max-per-row",
    default=12,
    show_default=True,
    help="Draw at most this many nodes per submodule (largest |effect|); 0 = all.",
)
@click.option("--max-label", default=28, show_default=True, help="Characters of label per node.")
def render(circuit_json, out, labels, max_per_row, max_label):
    """Draw a circuit JSON file with graphviz."""
    from circuits.graph import load_graph
    from circuits.render import FORMATS, render_circuit

    graph = load_graph(circuit_json)
    if out.suffix.lstrip(".").lower() not in FORMATS:
        raise ToolkitError(f"--out {out}: use a .svg, .png or .pdf file name")
    validate.writable_dir(out.parent, "--out's folder")
    if labels is not None:
        table = validate.labels(labels, graph.graph.get("submodules") or [])
        for _, a in graph.nodes(data=True):
            key = f"{a.get('submodule')}/{a.get('feature')}"
            if key in table:
                a["human_label"] = a["label"] = table[key]
    render_circuit(graph, out, max_label=max_label, max_per_row=max_per_row or None)
    click.echo(f"wrote {out}")


# The explorer and the exports live in their own module; they belong to this group.
from shift.commands.circuit_view import export, view  # noqa: E402

circuit.add_command(view)
circuit.add_command(export)
