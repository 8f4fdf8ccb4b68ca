"""Training data of a specialised SAE: which documents, under one token budget (SSAE paper,
Sec. 3.1.1, "data selection").

Every method returns documents of the corpus (or the seeds themselves) cut to `ctx_len` tokens,
holding about `budget_tokens` real tokens in all:
- `full`: documents of the whole corpus in a seeded random order, the general-data baseline (an
  SAE finetuned on it keeps being a general SAE);
- `seed`: the seed examples alone, however few tokens they hold; training reaches the same number
  of steps by passing over them many times (`ssae.train.plan_batches` repeats epochs);
- `bm25`, `dense`, `bm25+tracin`, `dense+tracin`: subdomain retrieval with the seeds as queries
  (`ssae.retrieval.retrieve`; TracIn re-ranks with the general SAE at the studied submodule).

Output in `out_dir`: `tokens/` (an ssae.tokens.TokenDataset) and `selection.json` (method, sizes,
and when the corpus has topic labels, the share of selected documents of the subdomain's topic).
A finished folder is returned as it is.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import numpy as np

from ssae.errors import DataError, ToolkitError
from ssae.io import write_json
from ssae.retrieval.config import METHODS as RETRIEVAL_METHODS
from ssae.retrieval.config import RetrievalConfig
from ssae.retrieval.corpus import Corpus, load_corpus, prepare_corpus
from ssae.retrieval.pipeline import retrieve
from ssae.retrieval.select import Ranking, take_budget
from ssae.tokens import TokenDataset

# `random` (general data in a seeded order) is left out: `full` is the study's general-data row.
SELECTION_METHODS = ("full", "seed", *(m for m in RETRIEVAL_METHODS if m != "random"))


def select_data(
    method: str,
    corpus: Corpus | str | os.PathLike,
    seeds: list[str],
    lm,
    out_dir: str | os.PathLike,
    budget_tokens: int,
    ctx_len: int = 128,
    seed: int = 0,
    saes: str | os.PathLike | None = None,
    submodule: str | None = None,
    topic: str | None = None,
    retrieval: dict | None = None,
) -> dict:
    """Select the training documents of `method` into `out_dir`; returns the summary.

    `lm` is a LoadedModel (its tokenizer counts tokens; TracIn runs it). `saes` and `submodule`
    name the general SAE TracIn scores with. `topic` is the subdomain's label in a labelled corpus
    (for the precision figure only). `retrieval` overrides RetrievalConfig fields."""
    if method not in SELECTION_METHODS:
        raise ToolkitError(f"unknown selection method {method!r}; choose from {SELECTION_METHODS}")
    out_dir = Path(out_dir)
    if (out_dir / "selection.json").exists():
        return json.loads((out_dir / "selection.json").read_text())
    if not isinstance(corpus, Corpus):
        corpus = load_corpus(corpus)
    if method == "seed":
        tokens = TokenDataset.from_texts(
            seeds, lm.tokenizer, ctx_len=ctx_len, source="seed examples"
        )
        tokens.save(out_dir / "tokens")
        topics = None
    elif method == "full":
        prepared = prepare_corpus(corpus, lm.tokenizer, ctx_len)
        order = np.random.default_rng(seed).permutation(len(prepared))
        ranking = Ranking(order, np.zeros(len(order)), complete=True)
        picked, _ = take_budget(ranking, prepared.lengths, budget_tokens)
        rows = order[picked]
        prepared.token_dataset(rows, source=f"random:{corpus.source}").save(out_dir / "tokens")
        topics = None if corpus.topics is None else [prepared.topic(int(r)) for r in rows]
    else:
        config = RetrievalConfig(
            **{
                "method": method,
                "budget_tokens": budget_tokens,
                "ctx_len": ctx_len,
                "n_seeds": len(seeds),
                "tracin_submodule": submodule,
                **(retrieval or {}),
            }
        )
        result = retrieve(corpus, seeds, lm, out_dir / "retrieval", config, saes=saes)
        link = out_dir / "tokens"
        if link.is_symlink():  # left by a run killed before selection.json
            link.unlink()
        link.symlink_to(Path("retrieval") / "tokens")
        topics = result.topics
    tokens = TokenDataset.load(out_dir / "tokens")
    summary = {
        "method": method,
        "n_docs": len(tokens),
        "n_tokens": tokens.n_tokens,
        "budget_tokens": budget_tokens,
        "topic": topic,
        "precision": _precision(topics, topic),
        "per_topic": None if topics is None else dict(Counter(topics).most_common()),
    }
    write_json(out_dir / "selection.json", summary)
    return summary


def _precision(topics: list[str] | None, topic: str | None) -> float | None:
    if topics is None or topic is None:
        return None
    if not topics:
        raise DataError("the selection is empty")
    return sum(t == topic for t in topics) / len(topics)
