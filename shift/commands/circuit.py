"""`shift circuit`: compute a sparse feature circuit and draw it.

    shift circuit compute --model DIR --sae-folder DIR --data data.jsonl --metric logit-diff --out c.json
    shift circuit render c.json --out graph.svg      (or graph.png)

`--data` is a JSONL file of examples or a token dataset folder (`ssae.tokens`). JSONL fields:
`text` (required); `patch` (a contrastive input, for `--baseline patch`); `label` (0/1, for a
probe metric); `correct` / `incorrect` (strings whose first token is compared, for logit-diff).
`--metric` is `logit-diff`, `loss` (next-token cross-entropy; works on plain token datasets) or
`probe:PATH` (a linear probe in safetensors, reading the submodule named by `--reads` or by the
file's `submodule` metadata). The computation is `circuits.compute_circuit`.
"""

from __future__ import annotations

from pathlib import Path

import click
import torch

from circuits.effects import EffectConfig
from circuits.states import Baseline
from shift import validate
from shift.circuit_config import CircuitConfig
from shift.commands.options import Opt, given, options, path_option
from shift.validate import DeviceParam
from ssae.configs import check_value
from ssae.errors import DataError, ToolkitError

METRIC_HELP = "logit-diff | loss | probe:PATH (linear probe weights in safetensors)"

EFFECT_OPTIONS = (
    Opt(EffectConfig, "method", default_text="ig"),
    Opt(EffectConfig, "steps"),
    Opt(EffectConfig, "ig_mode"),
    Opt(Baseline, "kind", ("--baseline",), dest="baseline"),
    Opt(EffectConfig, "aggregation"),
    Opt(CircuitConfig, "node_threshold"),
    Opt(CircuitConfig, "edge_threshold"),
)
"""Options generated from the configurations that own them (defaults and help written there)."""
DEFAULTS = {
    "method": "ig",
    "steps": EffectConfig.steps,
    "ig_mode": EffectConfig.ig_mode,
    "baseline": Baseline.kind,
    "aggregation": EffectConfig.aggregation,
    "node_threshold": CircuitConfig.node_threshold,
    "edge_threshold": CircuitConfig.edge_threshold,
}


@click.group()
def circuit():
    """Feature circuits: node and edge effects of SAE features on a metric, and their graph."""


def _read_jsonl(path: Path) -> list[dict]:
    from ssae.io import read_jsonl

    rows = read_jsonl(path, {"text": str})
    if not rows:
        raise DataError(f"{path} holds no examples")
    return rows


def _pad_to(t: torch.Tensor, width: int, value: int) -> torch.Tensor:
    if t.shape[1] >= width:
        return t
    pad = torch.full((t.shape[0], width - t.shape[1]), value, dtype=t.dtype, device=t.device)
    return torch.cat([t, pad], dim=1)


def _first_token(lm, text: str) -> int:
    ids = lm.tokenizer(text, add_special_tokens=False)["input_ids"]
    if not ids:
        raise DataError(f"answer {text!r} has no tokens")
    return int(ids[0])


def jsonl_batches(lm, rows: list[dict], batch_size: int, max_length: int) -> list[dict]:
    """Batches of a JSONL dataset (see the module docstring for the fields)."""
    pad = lm.tokenizer.pad_token_id or 0
    out = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        enc = lm.tokenize([r["text"] for r in chunk], max_length=max_length)
        batch = {k: v.cpu() for k, v in enc.items()}
        if any("patch" in r for r in chunk):
            if not all("patch" in r for r in chunk):
                raise DataError("either every example has a 'patch' text or none does")
            penc = lm.tokenize([r["patch"] for r in chunk], max_length=max_length)
            width = max(batch["input_ids"].shape[1], penc["input_ids"].shape[1])
            batch["input_ids"] = _pad_to(batch["input_ids"], width, pad)
            batch["attention_mask"] = _pad_to(batch["attention_mask"], width, 0)
            batch["patch_input_ids"] = _pad_to(penc["input_ids"].cpu(), width, pad)
            batch["patch_attention_mask"] = _pad_to(penc["attention_mask"].cpu(), width, 0)
        if all("label" in r for r in chunk):
            batch["labels"] = torch.tensor([int(r["label"]) for r in chunk])
        if all("correct" in r and "incorrect" in r for r in chunk):
            batch["correct_id"] = torch.tensor([_first_token(lm, r["correct"]) for r in chunk])
            batch["incorrect_id"] = torch.tensor([_first_token(lm, r["incorrect"]) for r in chunk])
        out.append(batch)
    return out


def load_batches(lm, data: Path, batch_size: int, max_length: int, max_examples: int | None):
    """(batches, annotation data) from a JSONL file or a token dataset folder."""
    from ssae.tokens import TokenDataset

    if data.is_dir():
        ds = TokenDataset.load(data)
        ds.check_vocabulary(lm.model.config.vocab_size, lm.name)
        if max_examples is not None:
            ds = ds.subset(list(range(min(max_examples, len(ds)))))
        return list(ds.batches(batch_size)), ds
    if not data.exists():
        raise DataError(f"data file {data} does not exist")
    rows = _read_jsonl(data)[:max_examples]
    return jsonl_batches(lm, rows, batch_size, max_length), [r["text"] for r in rows]


def _check_examples(data: Path) -> None:
    """`--data` at the door: a token dataset folder, or JSONL examples with a `text` field."""
    if data.is_dir():
        validate.token_dataset(data)
    else:
        validate.corpus_file(data, "text", "--data", (".jsonl",))


def make_metric(spec: str, reads: str | None):
    from circuits.metrics import load_probe_metric, logit_diff, next_token_loss

    if spec == "logit-diff":
        return logit_diff()
    if spec == "loss":
        return next_token_loss()
    if spec.startswith("probe:"):
        return load_probe_metric(spec[len("probe:") :], reads=reads)
    raise ToolkitError(f"unknown metric {spec!r}; use {METRIC_HELP}")


@circuit.command()
@click.option("--model", required=True, help="Model id or local directory.")
@path_option(
    "--sae-folder", "saes_dir", required=True, help="SAE set folder (dictionary_learning)."
)
@path_option("--data", required=True, help="JSONL examples or a token dataset folder.")
@click.option("--metric", "metric_spec", default="logit-diff", show_default=True, help=METRIC_HELP)
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
    from ssae.content import source_key
    from ssae.io import stable_hash
    from ssae.models import load_model
    from ssae.sae_set import SAESet

    chosen = {**DEFAULTS, **given(values, EFFECT_OPTIONS)}
    method, steps, ig_mode = chosen["method"], chosen["steps"], chosen["ig_mode"]
    baseline, aggregation = chosen["baseline"], chosen["aggregation"]
    node_threshold, edge_threshold = chosen["node_threshold"], chosen["edge_threshold"]
    # Validate every setting before loading anything, in one line each.
    EffectConfig(method=method, steps=steps, ig_mode=ig_mode, aggregation=aggregation)
    check_value(Baseline, "kind", baseline)
    CircuitConfig(node_threshold=node_threshold, edge_threshold=edge_threshold)
    # ... and every file, before the model loads
    names = list(validate.sae_folder(saes_dir, model=model))
    _check_examples(data)
    human = validate.labels(labels, names) if labels is not None else None
    validate.writable_dir(out.parent, "--out's folder")
    metric = make_metric(metric_spec, reads)
    key = stable_hash(
        dict(
            # what the inputs hold, not where they are: a changed file is a new circuit
            model=source_key(model),
            saes=source_key(saes_dir),
            data=source_key(data),
            metric=metric_spec,
            reads=reads,
            method=method,
            steps=steps,
            ig_mode=ig_mode,
            baseline=baseline,
            aggregation=aggregation,
            node_threshold=node_threshold,
            edge_threshold=edge_threshold,
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
    result = compute_circuit(
        lm,
        dict(saes),
        batches,
        metric,
        method=method,
        steps=steps,
        node_threshold=node_threshold,
        edge_threshold=edge_threshold,
        aggregation=aggregation,
        baseline=baseline,
        ig_mode=ig_mode,
    )
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
