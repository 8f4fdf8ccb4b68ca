"""`shift sae`: train, finetune, evaluate and compress SAE sets (one SAE per submodule).

Every command reads a model (`--model` hub id or local path) and writes under `--out`; training
and finetuning resume from their last checkpoint when rerun with the same settings.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from shift.validate import DeviceParam
from ssae.errors import DataError, ToolkitError


def _names(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _model_option(f):
    f = click.option(
        "--device", default="cpu", show_default=True, type=DeviceParam(), help="torch device."
    )(f)
    return click.option(
        "--model", "model_id", required=True, help="Hugging Face model id or local directory."
    )(f)


def _load_lm(model_id: str, device: str):
    from ssae.models import load_model

    return load_model(model_id, device=device)


def _read_corpus(path: Path, field: str, max_docs: int | None) -> list[str]:
    if not path.is_file():
        raise DataError(
            f"corpus {path} does not exist; pass a .jsonl file with one document per line"
        )
    texts = []
    with path.open() as fh:
        for i, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
            except ValueError as e:
                raise DataError(f"{path}:{i} is not valid JSON ({e})") from e
            if not isinstance(doc, dict) or field not in doc:
                raise DataError(f"{path}:{i} has no field {field!r}; choose it with --text-field")
            texts.append(str(doc[field]))
            if max_docs is not None and len(texts) >= max_docs:
                break
    if not texts:
        raise DataError(f"corpus {path} holds no documents")
    return texts


@click.group()
def sae():
    """Sparse autoencoder sets: train, finetune (ERM / TERM), evaluate, compress."""


@sae.command()
@_model_option
@click.option("--data", type=click.Path(path_type=Path), help="Token dataset directory.")
@click.option(
    "--corpus", type=click.Path(path_type=Path), help="Corpus .jsonl (instead of --data)."
)
@click.option("--text-field", default="text", show_default=True, help="Text field of --corpus.")
@click.option("--max-docs", type=int, help="Use at most this many corpus documents.")
@click.option("--ctx-len", default=128, show_default=True, help="Tokens per corpus document.")
@click.option(
    "--out", type=click.Path(path_type=Path), required=True, help="Output SAE set folder."
)
@click.option("--dict-size", "--width", "dict_size", type=int, help="Dictionary width.")
@click.option("--expansion", default=8, show_default=True, help="Width / activation width.")
@click.option("--l1", default=1.0, show_default=True, help="L1 coefficient (normalised units).")
@click.option("--lr", default=1e-3, show_default=True, help="Adam learning rate.")
@click.option(
    "--tokens",
    "--tokens-budget",
    "n_tokens",
    type=int,
    default=500_000,
    show_default=True,
    help="Training token budget.",
)
@click.option("--batch-docs", default=16, show_default=True, help="Documents per step.")
@click.option("--tilt", default=0.0, show_default=True, help="TERM tilt (0 = ERM).")
@click.option("--target-l0", type=float, help="Adapt the L1 coefficient towards this L0.")
@click.option("--submodules", help="Comma-separated submodules (default: all).")
@click.option("--seed", default=0, show_default=True)
@click.option(
    "--checkpoint-every", default=50, show_default=True, help="Steps between checkpoints."
)
def train(
    model_id,
    device,
    data,
    corpus,
    text_field,
    max_docs,
    ctx_len,
    out,
    dict_size,
    expansion,
    l1,
    lr,
    n_tokens,
    batch_docs,
    tilt,
    target_l0,
    submodules,
    seed,
    checkpoint_every,
):
    """Train general SAEs for all submodules of a model from scratch."""
    from ssae.tokens import TokenDataset
    from ssae.train import TrainConfig, train_saes

    if (data is None) == (corpus is None):
        raise ToolkitError("pass exactly one of --data DIR (token dataset) or --corpus FILE.jsonl")
    lm = _load_lm(model_id, device)
    if data is not None:
        tokens = TokenDataset.load(data)
    else:
        texts = _read_corpus(corpus, text_field, max_docs)
        tokens = TokenDataset.from_texts(
            texts, lm.tokenizer, ctx_len=ctx_len, source=str(corpus), tokenizer_name=model_id
        )
    cfg = TrainConfig(
        dict_size=dict_size,
        expansion=expansion,
        l1=l1,
        lr=lr,
        n_tokens=n_tokens,
        batch_docs=batch_docs,
        tilt=tilt,
        target_l0=target_l0,
        names=_names(submodules),
        seed=seed,
        checkpoint_every=checkpoint_every,
    )
    saes = train_saes(lm, tokens, cfg, out)
    click.echo(f"trained {len(saes)} SAEs on {saes.meta.get('n_tokens')} tokens -> {out}")


@sae.command()
@_model_option
@click.option("--saes", type=click.Path(path_type=Path), required=True, help="SAE set folder.")
@click.option("--dict-id", help="Run folder inside each submodule folder, e.g. 10_32768.")
@click.option(
    "--data", type=click.Path(path_type=Path), required=True, help="Token dataset directory."
)
@click.option(
    "--tilt", default=0.0, show_default=True, help="TERM tilt t (0 = ERM; e.g. 500, 1e9)."
)
@click.option("--l1", type=float, help="L1 coefficient (default: each SAE's own l1_penalty).")
@click.option("--lr", default=1e-4, show_default=True, help="Adam learning rate.")
@click.option(
    "--tokens",
    "--tokens-budget",
    "n_tokens",
    type=int,
    help="Token budget (default: one epoch of --data).",
)
@click.option("--batch-docs", default=16, show_default=True, help="Documents per step.")
@click.option("--target-l0", type=float, help="Adapt the L1 coefficient towards this L0.")
@click.option(
    "--units",
    type=click.Choice(["auto", "normalized", "raw"]),
    default="auto",
    show_default=True,
    help="auto: the units each SAE was trained in (raw for external SAEs); normalized: "
    "activations scaled to E||x||^2 = d; raw: unscaled activations.",
)
@click.option("--submodules", help="Comma-separated submodules (default: all in --saes).")
@click.option("--seed", default=0, show_default=True)
@click.option(
    "--checkpoint-every", default=50, show_default=True, help="Steps between checkpoints."
)
@click.option(
    "--out", type=click.Path(path_type=Path), required=True, help="Output SAE set folder."
)
def finetune(
    model_id,
    device,
    saes,
    dict_id,
    data,
    tilt,
    l1,
    lr,
    n_tokens,
    batch_docs,
    target_l0,
    units,
    submodules,
    seed,
    checkpoint_every,
    out,
):
    """Finetune every SAE of a set on a token dataset (SSAEs), with ERM or TERM."""
    from ssae.sae_set import SAESet
    from ssae.tokens import TokenDataset
    from ssae.train import FinetuneConfig, finetune_saes

    lm = _load_lm(model_id, device)
    base = SAESet.load(saes, lm, names=_names(submodules), dict_id=dict_id, device=device)
    cfg = FinetuneConfig(
        tilt=tilt,
        l1=l1,
        lr=lr,
        n_tokens=n_tokens,
        batch_docs=batch_docs,
        target_l0=target_l0,
        normalize={"auto": None, "normalized": True, "raw": False}[units],
        seed=seed,
        checkpoint_every=checkpoint_every,
    )
    result = finetune_saes(lm, base, TokenDataset.load(data), cfg, out)
    click.echo(f"finetuned {len(result)} SAEs on {result.meta.get('n_tokens')} tokens -> {out}")


@sae.command("eval")
@_model_option
@click.option("--saes", type=click.Path(path_type=Path), required=True, help="SAE set folder.")
@click.option("--dict-id", help="Run folder inside each submodule folder, e.g. 10_32768.")
@click.option(
    "--data", type=click.Path(path_type=Path), required=True, help="Token dataset directory."
)
@click.option(
    "--max-tokens", type=int, help="Evaluate on the first documents up to this many tokens."
)
@click.option("--batch-docs", default=16, show_default=True, help="Documents per forward pass.")
@click.option("--no-ce", is_flag=True, help="Skip the spliced cross-entropy (faster).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output .json file.")
def eval_(model_id, device, saes, dict_id, data, max_tokens, batch_docs, no_ce, out):
    """L0, FVU, dead features and spliced cross-entropy of every SAE of a set."""
    from ssae.evaluate import evaluate_saes, metric_table
    from ssae.sae_set import SAESet
    from ssae.tokens import TokenDataset

    lm = _load_lm(model_id, device)
    dicts = SAESet.load(saes, lm, dict_id=dict_id, device=device)
    result = evaluate_saes(
        lm,
        dicts,
        TokenDataset.load(data),
        batch_docs=batch_docs,
        max_tokens=max_tokens,
        spliced=not no_ce,
        out=out,
    )
    click.echo(metric_table(result))
    if "clean_ce" in result:
        click.echo(f"clean CE {result['clean_ce']:.4f} on {result['n_tokens']} tokens")
    click.echo(f"wrote {out}")


@sae.command()
@_model_option
@click.option("--saes", type=click.Path(path_type=Path), required=True, help="SAE set folder.")
@click.option("--dict-id", help="Run folder inside each submodule folder, e.g. 10_32768.")
@click.option("--k", type=int, required=True, help="Keep features 0..k-1 of every SAE.")
@click.option(
    "--out", type=click.Path(path_type=Path), required=True, help="Output SAE set folder."
)
def compress(model_id, device, saes, dict_id, k, out):
    """Keep the first k features of every SAE of a set (the SSAE paper's compression)."""
    from ssae.sae_set import SAESet

    if k < 1:
        raise ToolkitError(f"--k must be at least 1, got {k}")
    lm = _load_lm(model_id, device)
    dicts = SAESet.load(saes, lm, dict_id=dict_id)
    dicts.slice(k).save(out)
    click.echo(f"kept the first {k} features of {len(dicts)} SAEs -> {out}")
