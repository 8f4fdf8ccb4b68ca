"""`shift retrieve`: expand a few seed examples into a subdomain token dataset (SSAE data stage).

Seeds come from a file (`--seeds FILE`: jsonl with "text", or one text per line) or from a dataset
(`--dataset bib`: biographies of the profession pair drawn from the preset's Bias in Bios train
split, as `shift run` does). Corpus and model default to the preset's (`--preset paper|tiny|micro`).
Both end in `run_retrieval`, which takes a plain list of seed texts.
"""

from __future__ import annotations

import re

import click


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


def run_retrieval(seed_texts: list[str], corpus, model, out, saes=None, max_docs=None, **config):
    """Retrieve for a list of seed texts; returns ssae.retrieval.RetrievalResult."""
    from ssae.retrieval import RetrievalConfig, retrieve

    cfg = RetrievalConfig(**config)
    return retrieve(corpus, seed_texts, model, out, config=cfg, saes=saes, max_docs=max_docs)


@click.command("retrieve", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--seeds",
    "seeds_file",
    type=click.Path(dir_okay=False),
    help="Seed examples: jsonl with a 'text' field, or one text per line.",
)
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
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    help="Output folder: tokens/, selection.jsonl, report.json, report.md.",
)
@click.option(
    "--method",
    type=click.Choice(["dense", "bm25", "dense+tracin", "bm25+tracin"]),
    default="dense",
    show_default=True,
    help="First-stage retrieval, optionally reranked by TracIn.",
)
@click.option(
    "--budget",
    type=TokenCount(),
    default="8M",
    show_default=True,
    help="Tokens to select (8M in the SSAE paper's Bias in Bios run).",
)
@click.option(
    "--saes",
    type=click.Path(exists=True),
    help="Pretrained SAE folder (dictionary_learning layout) or one ae.pt; needed by +tracin.",
)
@click.option(
    "--submodule",
    default=None,
    help="Submodule whose SAE scores TracIn candidates, e.g. resid_out_layer3 (default: middle residual).",
)
@click.option(
    "--embedder",
    default="minilm",
    show_default=True,
    help="Dense embedder: minilm (offline), contriever (paper), or an HF encoder id/path.",
)
@click.option(
    "--embed-max-length",
    type=click.IntRange(min=8),
    default=128,
    show_default=True,
    help="Embedder tokens per document (64 halves dense indexing time on a CPU).",
)
@click.option(
    "--n-seeds",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Number of seed examples to use.",
)
@click.option(
    "--threshold",
    type=float,
    default=None,
    help="Minimum merged first-stage score (cosine for dense, per-seed normalised BM25).",
)
@click.option(
    "--merge",
    type=click.Choice(["auto", "mean", "max"]),
    default="auto",
    show_default=True,
    help="How per-seed scores are merged (auto: mean for dense, max for bm25).",
)
@click.option(
    "--ctx-len",
    type=click.IntRange(min=1),
    default=128,
    show_default=True,
    help="Cut each document to its first N model tokens.",
)
@click.option(
    "--max-docs",
    type=click.IntRange(min=1),
    default=None,
    help="Read at most this many corpus documents (needed for huge hub corpora).",
)
@click.option(
    "--tracin-pool",
    type=click.FloatRange(min=1),
    default=4.0,
    show_default=True,
    help="TracIn reranks the first-stage documents holding this many budgets of tokens.",
)
@click.option(
    "--tracin-l1",
    type=float,
    default=None,
    help="L1 coefficient of the SAE loss for TracIn (default: SAE config, else 0.1).",
)
def retrieve(
    seeds_file,
    dataset,
    preset,
    bib_path,
    professions,
    corpus,
    model,
    out,
    method,
    budget,
    saes,
    submodule,
    embedder,
    embed_max_length,
    n_seeds,
    threshold,
    merge,
    ctx_len,
    max_docs,
    tracin_pool,
    tracin_l1,
):
    """Select subdomain documents from a corpus for a few seed examples.

    Writes OUT/tokens (the token dataset `shift sae finetune` reads), OUT/selection.jsonl and a
    report (OUT/report.json, OUT/report.md). Indexes are cached and reused across runs.
    """
    if (seeds_file is None) == (dataset is None):
        raise click.UsageError("give exactly one of --seeds FILE or --dataset NAME")
    from shift.presets import get_preset

    fields = [f for f, v in (("corpus", corpus), ("model", model)) if v is None]
    if dataset is not None and bib_path is None:
        fields.append("bib")
    p = get_preset(preset, corpus=corpus, model=model, bib=bib_path)
    p = p.resolve(*fields) if fields else p
    corpus, model = str(p.corpus), str(p.model)
    if seeds_file is not None:
        from ssae.retrieval import read_seed_file

        texts = read_seed_file(seeds_file)
    else:
        texts = _bib_seeds(str(p.bib), professions, n_seeds)
    result = run_retrieval(
        texts,
        corpus,
        model,
        out,
        saes=saes,
        max_docs=max_docs,
        method=method,
        budget_tokens=budget,
        n_seeds=n_seeds,
        threshold=threshold,
        merge=merge,
        ctx_len=ctx_len,
        embedder=embedder,
        embed_max_length=embed_max_length,
        tracin_pool=tracin_pool,
        tracin_submodule=submodule,
        tracin_l1=tracin_l1,
    )
    sel = result.report["selected"]
    click.echo(
        f"selected {sel['n_docs']} documents, {sel['n_tokens']} tokens "
        f"(budget {sel['budget_tokens']}{'' if sel['budget_reached'] else ', NOT reached'}) "
        f"-> {result.tokens_path}; report: {result.out_dir / 'report.md'}"
    )
    for w in result.report.get("warnings", []):
        click.echo(f"warning: {w}", err=True)
