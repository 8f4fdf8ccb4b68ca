"""`shift retrieve`: expand a few seed examples into a subdomain token dataset (SSAE data stage).

Seeds come from a file (`--seeds FILE`: jsonl with "text", or one text per line) or from a dataset
(`--dataset bib`: biographies of the profession pair drawn from the preset's Bias in Bios train
split, as `shift run` does). Corpus and model default to the preset's (`--preset paper|tiny|micro`).
Both end in `ssae.retrieval.retrieve`, which takes a plain list of seed texts. Retrieval options
are generated from `RetrievalConfig` (its defaults are the SSAE paper's).
"""

from __future__ import annotations

import re
from pathlib import Path

import click

from shift.commands.options import Opt, given, options, path_option
from ssae.retrieval.config import RetrievalConfig


def _bib_seeds(bib_source: str, professions: str, n_seeds: int) -> list[str]:
    from shift.data.bib import load_bib, seed_examples

    return seed_examples(load_bib(bib_source, professions, splits=("train",)), n_seeds)


class TokenCount(click.ParamType):
    """A token count such as 8000000, 8M, 500k or 1.5M."""

    name = "TOKENS"
    _UNITS = {"": 1, "k": 1_000, "m": 1_000_000, "g": 1_000_000_000, "b": 1_000_000_000}

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kKmMgGbB]?)\s*", str(value))
        if not m:
            self.fail(f"{value!r} is not a token count (e.g. 8000000, 8M, 500k)", param, ctx)
        n = int(float(m.group(1)) * self._UNITS[m.group(2).lower()])
        if n < 1:
            self.fail("the budget must be at least 1 token", param, ctx)
        return n


def _retrieval_options() -> tuple[Opt, ...]:
    rc = RetrievalConfig
    return (
        Opt(rc, "method"),
        Opt(rc, "budget_tokens", ("--budget",), click_type=TokenCount()),
        Opt(rc, "tracin_submodule", ("--submodule",)),
        Opt(rc, "embedder"),
        Opt(rc, "embed_max_length"),
        Opt(rc, "n_seeds"),
        Opt(rc, "threshold"),
        Opt(rc, "merge"),
        Opt(rc, "ctx_len"),
        Opt(rc, "tracin_pool"),
        Opt(rc, "tracin_l1"),
    )


@click.command("retrieve", context_settings={"help_option_names": ["-h", "--help"]})
@path_option("--seeds", "seeds_file", dir_okay=False, help="Seed examples: jsonl, or one per line.")
@click.option(
    "--dataset",
    type=click.Choice(["bib"]),
    help="Take seed examples from a dataset instead of --seeds.",
)
@click.option(
    "--preset",
    default="paper",
    show_default=True,
    help="Defaults for --corpus, --model and the --dataset source: paper, tiny or micro.",
)
@click.option("--bib-path", default=None, help="Bias in Bios file/directory for --dataset bib.")
@click.option(
    "--professions", default="professor,nurse", show_default=True, help="Pair for --dataset bib."
)
@click.option(
    "--corpus",
    default=None,
    help="Corpus: a .jsonl/.parquet file (text, id?, topic?) or a Hugging Face dataset id (owner/name[:config]).",
)
@click.option(
    "--model",
    default=None,
    help="Model id or path: its tokenizer cuts documents and counts the budget; TracIn runs the model.",
)
@path_option("--out", required=True, file_okay=False, help="Output folder: tokens/, reports.")
@path_option(
    "--sae-folder", "saes", exists=True, help="SAE folder or one ae.pt; needed by +tracin."
)
@click.option(
    "--max-docs",
    type=click.IntRange(min=1),
    default=None,
    help="Read at most this many corpus documents (needed for huge hub corpora).",
)
@options(_retrieval_options())
def retrieve(
    seeds_file, dataset, preset, bib_path, professions, corpus, model, out, saes, max_docs, **values
):
    """Select subdomain documents from a corpus for a few seed examples.

    Writes OUT/tokens (the token dataset `shift sae finetune` reads), OUT/selection.jsonl and a
    report (OUT/report.json, OUT/report.md). Indexes are cached and reused across runs.
    """
    if (seeds_file is None) == (dataset is None):
        raise click.UsageError("give exactly one of --seeds FILE or --dataset NAME")
    from shift import validate
    from shift.presets import get_preset

    # Settings and files first: a bad one must not cost a world build or a model load.
    config = RetrievalConfig(**given(values, _retrieval_options()))
    p = get_preset(preset, corpus=corpus, model=model, bib=bib_path)
    for option, value in (("--corpus", corpus), ("--model", model), ("--bib-path", bib_path)):
        validate.local_source(option, value)
    if corpus is not None and Path(corpus).expanduser().exists():
        validate.corpus_file(corpus)
    if saes is not None and saes.is_dir():
        validate.sae_folder(saes, model=model)
    validate.writable_dir(out)
    texts = None
    if seeds_file is not None:
        from ssae.retrieval import read_seed_file

        texts = read_seed_file(seeds_file)
    fields = [f for f, v in (("corpus", corpus), ("model", model)) if v is None]
    if dataset is not None and bib_path is None:
        fields.append("bib")
    p = p.resolve(*fields) if fields else p
    corpus, model = str(p.corpus), str(p.model)
    if texts is None:
        texts = _bib_seeds(str(p.bib), professions, config.n_seeds)
    from ssae.retrieval import retrieve as run_retrieval

    result = run_retrieval(corpus, texts, model, out, config=config, saes=saes, max_docs=max_docs)
    sel = result.report["selected"]
    click.echo(
        f"selected {sel['n_docs']} documents, {sel['n_tokens']} tokens "
        f"(budget {sel['budget_tokens']}{'' if sel['budget_reached'] else ', NOT reached'}) "
        f"-> {result.tokens_path}; report: {result.out_dir / 'report.md'}"
    )
    for w in result.report.get("warnings", []):
        click.echo(f"warning: {w}", err=True)
