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
from ssae.arch_config import ARCH_NAMES
from ssae.errors import DataError, ToolkitError
from ssae.fit_config import FinetuneConfig, TrainConfig


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
        Opt(cls, "seed", ("--seed", "--sae-seed")),
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
                "--ctx-len",
                type=int,
                help="Tokens per corpus document [default: the preset's (train), else 128].",
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
    ctx_len: int | None,
):
    """The token dataset of `--data`, or `--corpus` tokenized by the model's tokenizer."""
    from ssae.tokens import TokenDataset

    if data is not None:
        tokens = TokenDataset.load(data)
        tokens.check_vocabulary(lm.model.config.vocab_size, model_id)
        return tokens
    texts = _read_corpus(corpus, text_field, max_docs)
    return TokenDataset.from_texts(
        texts, lm.tokenizer, ctx_len=ctx_len or 128, source=str(corpus), tokenizer_name=model_id
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
@click.option(
    "--preset",
    help="Take the model, corpus, context length, submodules, width and training recipe from a "
    "preset (tiny, micro; with --arch, that architecture's calibrated setting); the other "
    "options override it.",
)
@click.option(
    "--arch",
    metavar="[" + "|".join(ARCH_NAMES) + "]",
    help="SAE architecture [default: the preset's, else relu].",
)
@click.option(
    "--k",
    "arch_k",
    type=int,
    help="Active features per token (topk, batchtopk, matryoshka, ortsae).",
)
@click.option(
    "--model", "model_id", help="Hugging Face model id or local directory [default: the preset's]."
)
@click.option(
    "--device", default="cpu", show_default=True, type=DeviceParam(), help="torch device."
)
@_tokens_options
@_out_option("Output SAE set folder.")
@options(TRAIN_OPTIONS)
def train(
    preset,
    arch,
    arch_k,
    model_id,
    device,
    data,
    corpus,
    text_field,
    max_docs,
    ctx_len,
    out,
    **values,
):
    """Train general SAEs for all submodules of a model from scratch.

    `--target-l0` is the L1 architectures' adaptive-L1 target, and JumpReLU's L0 target."""
    if data is not None or corpus is not None or preset is None:
        _check_token_source(data, corpus, text_field)  # a preset without either brings its corpus
    from ssae.train import train_saes

    cfg, model_id, corpus, ctx_len = _train_recipe(
        preset, arch, arch_k, model_id, data, corpus, ctx_len, given(values, TRAIN_OPTIONS)
    )
    if model_id is None:
        raise ToolkitError("pass --model (a model id or folder) or --preset")
    validate.writable_dir(out)
    lm = _load_lm(model_id, device)
    tokens = _tokens(lm, model_id, data, corpus, text_field, max_docs, ctx_len)
    saes = train_saes(lm, tokens, cfg, out)
    click.echo(
        f"trained {len(saes)} {cfg.arch.name} SAEs on {saes.meta.get('n_tokens')} tokens -> {out}"
    )


def _train_recipe(preset, arch, arch_k, model_id, data, corpus, ctx_len, values):
    """(TrainConfig, model, corpus, ctx_len): the preset's recipe (when one is named) for the
    architecture, with the options given on top."""
    import dataclasses

    from ssae.arch_config import ArchConfig

    base = None
    if preset is not None:
        from shift.presets import get_preset

        p = get_preset(preset)
        calibrated = {p.gsae.arch.name, *(r.arch.name for r in p.archs)}
        # An architecture the preset has no setting for takes [gsae]'s recipe and the given k.
        base = p.gsae_recipe(arch if arch in calibrated else None, values.get("seed"))
        wanted = [s for s, v in (("model", model_id), ("corpus", data or corpus)) if v is None]
        resolved = p.resolve(*wanted) if wanted else p
        model_id = model_id or resolved.model
        if data is None and corpus is None:
            corpus = Path(resolved.corpus)
        ctx_len = ctx_len or p.ctx_len
    arch_cfg = base.arch if base is not None else ArchConfig()
    if arch is not None and arch != arch_cfg.name:
        arch_cfg = ArchConfig(arch, k=arch_k, target_l0=values.get("target_l0"))
    elif arch_k is not None:
        arch_cfg = dataclasses.replace(arch_cfg, k=arch_k)
    if arch_cfg.name == "jumprelu" and "target_l0" in values:
        arch_cfg = dataclasses.replace(arch_cfg, target_l0=values.pop("target_l0"))
    cfg = dataclasses.replace(base, **values) if base is not None else TrainConfig(**values)
    return dataclasses.replace(cfg, arch=arch_cfg), model_id, corpus, ctx_len or 128


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
    _check_token_source(data, corpus, text_field)
    from ssae.sae_set import SAESet
    from ssae.train import finetune_saes

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
    _check_token_source(data, corpus, text_field)
    from ssae.evaluate import evaluate_saes, metric_table
    from ssae.sae_set import SAESet

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
