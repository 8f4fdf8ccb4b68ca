"""`shift sae`: train, finetune, evaluate and compress SAE sets (one SAE per submodule).

Every command reads a model (`--model` hub id or local path) and writes under `--out`; training
and finetuning resume from their last checkpoint when rerun with the same settings. Training and
finetuning options are generated from `ssae.train.TrainConfig` / `FinetuneConfig`.
"""

from __future__ import annotations

from pathlib import Path

import click

from shift import validate
from shift.commands.options import Opt, given, options, path_option
from shift.validate import DeviceParam
from ssae.errors import DataError, ToolkitError
from ssae.train import FinetuneConfig, TrainConfig


def _fit_options(cls: type, *extra: Opt) -> tuple[Opt, ...]:
    """Options shared by training and finetuning, read from `cls`'s fields."""
    return (
        *extra,
        Opt(cls, "l1"),
        Opt(cls, "lr"),
        Opt(cls, "n_tokens", ("--tokens", "--tokens-budget")),
        Opt(cls, "batch_docs"),
        Opt(cls, "tilt"),
        Opt(cls, "target_l0"),
        Opt(cls, "names", ("--submodules",)),
        Opt(cls, "seed"),
        Opt(cls, "checkpoint_every"),
    )


TRAIN_OPTIONS = _fit_options(
    TrainConfig,
    Opt(TrainConfig, "dict_size", ("--dict-size", "--width")),
    Opt(TrainConfig, "expansion"),
)
FINETUNE_OPTIONS = _fit_options(FinetuneConfig)


def _model_option(f):
    f = click.option(
        "--device", default="cpu", show_default=True, type=DeviceParam(), help="torch device."
    )(f)
    return click.option(
        "--model", "model_id", required=True, help="Hugging Face model id or local directory."
    )(f)


def _sae_folder_option(f):
    f = click.option("--dict-id", help="Run folder inside each submodule folder, e.g. 10_32768.")(f)
    return path_option("--sae-folder", required=True, help="SAE set folder.")(f)


def _tokens_options(f):
    """`--data DIR` (a token dataset, e.g. `shift retrieve`'s OUT/tokens) or `--corpus FILE`
    (documents, tokenized here), for every command that reads tokens."""
    for option in reversed(
        (
            path_option("--data", help="Token dataset directory (or --corpus)."),
            path_option("--corpus", help="Corpus .jsonl, one document per line (or --data)."),
            click.option(
                "--text-field", default="text", show_default=True, help="Text field of --corpus."
            ),
            click.option("--max-docs", type=int, help="Use at most this many corpus documents."),
            click.option(
                "--ctx-len", default=128, show_default=True, help="Tokens per corpus document."
            ),
        )
    ):
        f = option(f)
    return f


def _tokens(
    lm,
    model_id: str,
    data: Path | None,
    corpus: Path | None,
    text_field: str,
    max_docs: int | None,
    ctx_len: int,
):
    """The token dataset of `--data`, or `--corpus` tokenized by the model's tokenizer."""
    from ssae.tokens import TokenDataset

    if data is not None:
        tokens = TokenDataset.load(data)
        tokens.check_vocabulary(lm.model.config.vocab_size, model_id)
        return tokens
    texts = _read_corpus(corpus, text_field, max_docs)
    return TokenDataset.from_texts(
        texts, lm.tokenizer, ctx_len=ctx_len, source=str(corpus), tokenizer_name=model_id
    )


def _check_token_source(data: Path | None, corpus: Path | None, text_field: str) -> None:
    """Exactly one of `--data` and `--corpus`, checked at the door (before the model loads)."""
    if (data is None) == (corpus is None):
        raise ToolkitError("pass exactly one of --data DIR (token dataset) or --corpus FILE.jsonl")
    if data is not None:
        validate.token_dataset(data)
    else:
        validate.corpus_file(corpus, text_field, "--corpus", (".jsonl",))


def _out_option(what: str):
    return path_option("--out", required=True, help=what)


def _load_lm(model_id: str, device: str):
    from ssae.models import load_model

    return load_model(model_id, device=device)


def _read_corpus(path: Path, field: str, max_docs: int | None) -> list[str]:
    from ssae.io import read_jsonl

    if not path.is_file():
        raise DataError(
            f"corpus {path} does not exist; pass a .jsonl file with one document per line"
        )
    rows = read_jsonl(path, {field: object}, max_rows=max_docs)
    if not rows:
        raise DataError(f"corpus {path} holds no documents")
    return [str(r[field]) for r in rows]


@click.group()
def sae():
    """Sparse autoencoder sets: train, finetune (ERM / TERM), evaluate, compress."""


@sae.command()
@_model_option
@_tokens_options
@_out_option("Output SAE set folder.")
@options(TRAIN_OPTIONS)
def train(model_id, device, data, corpus, text_field, max_docs, ctx_len, out, **values):
    """Train general SAEs for all submodules of a model from scratch."""
    from ssae.train import train_saes

    _check_token_source(data, corpus, text_field)
    cfg = TrainConfig(**given(values, TRAIN_OPTIONS))
    validate.writable_dir(out)
    lm = _load_lm(model_id, device)
    tokens = _tokens(lm, model_id, data, corpus, text_field, max_docs, ctx_len)
    saes = train_saes(lm, tokens, cfg, out)
    click.echo(f"trained {len(saes)} SAEs on {saes.meta.get('n_tokens')} tokens -> {out}")


@sae.command()
@_model_option
@_sae_folder_option
@_tokens_options
@click.option(
    "--units",
    type=click.Choice(["auto", "normalized", "raw"]),
    default="auto",
    show_default=True,
    help="auto: the units each SAE was trained in (raw for external SAEs); normalized: "
    "activations scaled to E||x||^2 = d; raw: unscaled activations.",
)
@_out_option("Output SAE set folder.")
@options(FINETUNE_OPTIONS)
def finetune(
    model_id,
    device,
    sae_folder,
    dict_id,
    data,
    corpus,
    text_field,
    max_docs,
    ctx_len,
    units,
    out,
    **values,
):
    """Finetune every SAE of a set on a token dataset or corpus (SSAEs), with ERM or TERM."""
    from ssae.sae_set import SAESet
    from ssae.train import finetune_saes

    _check_token_source(data, corpus, text_field)
    normalize = {"auto": None, "normalized": True, "raw": False}[units]
    cfg = FinetuneConfig(normalize=normalize, **given(values, FINETUNE_OPTIONS))
    validate.sae_folder(sae_folder, names=cfg.names, dict_id=dict_id, model=model_id)
    validate.writable_dir(out)
    lm = _load_lm(model_id, device)
    base = SAESet.load(sae_folder, lm, names=cfg.names, dict_id=dict_id, device=device)
    tokens = _tokens(lm, model_id, data, corpus, text_field, max_docs, ctx_len)
    result = finetune_saes(lm, base, tokens, cfg, out)
    click.echo(f"finetuned {len(result)} SAEs on {result.meta.get('n_tokens')} tokens -> {out}")


@sae.command("eval")
@_model_option
@_sae_folder_option
@_tokens_options
@click.option(
    "--max-tokens", type=int, help="Evaluate on the first documents up to this many tokens."
)
@click.option("--batch-docs", default=16, show_default=True, help="Documents per forward pass.")
@click.option("--no-ce", is_flag=True, help="Skip the spliced cross-entropy (faster).")
@_out_option("Output .json file.")
def eval_(
    model_id,
    device,
    sae_folder,
    dict_id,
    data,
    corpus,
    text_field,
    max_docs,
    ctx_len,
    max_tokens,
    batch_docs,
    no_ce,
    out,
):
    """L0, FVU, dead features and spliced cross-entropy of every SAE of a set."""
    from ssae.evaluate import evaluate_saes, metric_table
    from ssae.sae_set import SAESet

    _check_token_source(data, corpus, text_field)
    validate.sae_folder(sae_folder, dict_id=dict_id, model=model_id)
    validate.writable_dir(out.parent, "--out's folder")
    lm = _load_lm(model_id, device)
    dicts = SAESet.load(sae_folder, lm, dict_id=dict_id, device=device)
    result = evaluate_saes(
        lm,
        dicts,
        _tokens(lm, model_id, data, corpus, text_field, max_docs, ctx_len),
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
@_sae_folder_option
@click.option("--k", type=int, required=True, help="Keep features 0..k-1 of every SAE.")
@_out_option("Output SAE set folder.")
def compress(model_id, device, sae_folder, dict_id, k, out):
    """Keep the first k features of every SAE of a set (the SSAE paper's compression)."""
    from ssae.sae_set import SAESet

    if k < 1:
        raise ToolkitError(f"--k must be at least 1, got {k}")
    found = validate.sae_folder(sae_folder, dict_id=dict_id, model=model_id)
    widths = [f.dict_size for f in found.values() if f.dict_size is not None]
    if widths and k > min(widths):
        raise ToolkitError(f"--k {k} exceeds the width of the narrowest dictionary ({min(widths)})")
    validate.writable_dir(out)
    lm = _load_lm(model_id, device)
    dicts = SAESet.load(sae_folder, lm, dict_id=dict_id)
    dicts.slice(k).save(out)
    click.echo(f"kept the first {k} features of {len(dicts)} SAEs -> {out}")
