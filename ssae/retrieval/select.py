"""From per-seed similarities to a ranked document list, and from a ranking to a token budget.

The SSAE paper (Muhamed et al. 2024, Sec. 3.1) embeds a few seed examples, scores every pretraining
document against them, and keeps the most similar documents until the subdomain has enough tokens
(8M for Bias in Bios, from 5 seeds). With S seeds and similarity s_j(d) of document d to seed j:

    score(d) = mean_j s_j(d)     (`merge="mean"`: closeness to the seed set as a whole), or
    score(d) = max_j s_j(d)      (`merge="max"`: a document close to ANY seed is in the
                                  subdomain, so seeds covering different facets each pull their
                                  own neighbours).

`RetrievalConfig.merge="auto"` (default) takes mean for dense and max for BM25. Measured on the
micro world (corpus of 3000 documents, 30 biographies; 5 Bias-in-Bios seeds), biography precision
at budgets of 1500 / 3000 / 4500 tokens:

    dense (MiniLM)  max 0.44 / 0.48 / 0.32    mean 0.85 / 0.68 / 0.45
    BM25            max 1.00 / 0.92 / 0.61    mean 1.00 / 0.78 / 0.53

Under dense `max`, sports reports about named people (close to one seed or another) fill the top
ranks; under BM25 `mean`, documents sharing common words with every seed outrank documents that
share a seed's rarer, specific words.

Dense: s_j = cosine similarity of unit embeddings. `mean` is then exactly one search with the mean
seed vector (mean_j <q_j, e> = <mean_j q_j, e>). `max` is exactly the top-k of the union of the
seeds' own top-k lists, re-scored: if d is not in the top-k of the seed j* maximising s_j(d), k
documents beat d's best score already, so d is not in the merged top-k either. Rankings are
grown by doubling k until the token budget or the threshold is met.

BM25: scores are unbounded and grow with seed length, so each seed's scores are divided by that
seed's best score over the corpus before merging (s_j in [0, 1], the best match of each seed = 1);
bm25s scores every document anyway, so the merged ranking is exact over the whole corpus.

Selection: documents in ranking order with score >= `threshold` are taken until their token count
first reaches the budget (the last document may overshoot by less than one document).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ssae.errors import ConfigError
from ssae.retrieval.config import MERGES


@dataclass
class Ranking:
    """Documents (rows of a prepared corpus) in decreasing merged score."""

    rows: np.ndarray
    """int64 [m]"""
    scores: np.ndarray
    """float32 [m], non-increasing."""
    complete: bool
    """True when every document scoring >= the threshold is included."""


def merge(per_seed: np.ndarray, how: str) -> np.ndarray:
    """Merge per-seed scores [S, M] into one score per document [M]."""
    if how == "max":
        return per_seed.max(axis=0)
    if how == "mean":
        return per_seed.mean(axis=0)
    raise ConfigError(f"merge must be one of {MERGES}, got {how!r}")


def rank_dense(index, seed_vectors: np.ndarray, how: str, k: int) -> Ranking:
    """Exact top-k documents of the merged cosine score (see module docstring)."""
    n = len(index)
    k = min(k, n)
    if how == "mean":
        _, rows = index.search(seed_vectors.mean(axis=0, keepdims=True), k)
        rows = rows[0]
    else:
        _, rows = index.search(seed_vectors, k)
        rows = np.unique(rows)
    rows = rows[rows >= 0]
    scores = merge(seed_vectors @ index.vectors(rows).T, how).astype(np.float32)
    order = np.argsort(-scores, kind="stable")[:k]
    return Ranking(rows[order].astype(np.int64), scores[order], complete=k >= n)


def rank_bm25(index, seeds: list[str], how: str) -> Ranking:
    """Merged, per-seed max-normalised BM25 scores of the whole corpus, best first."""
    per_seed = np.stack([index.scores(s) for s in seeds])
    best = per_seed.max(axis=1, keepdims=True)
    per_seed = np.divide(per_seed, best, out=np.zeros_like(per_seed), where=best > 0)
    scores = merge(per_seed, how).astype(np.float32)
    order = np.argsort(-scores, kind="stable")
    return Ranking(order.astype(np.int64), scores[order], complete=True)


def take_budget(
    ranking: Ranking, lengths: np.ndarray, budget: int, threshold: float | None = None
) -> tuple[np.ndarray, bool]:
    """Prefix of the ranking above `threshold` whose tokens first reach `budget`.

    Returns (positions into the ranking, budget_reached)."""
    ok = len(ranking.rows) if threshold is None else int(np.sum(ranking.scores >= threshold))
    cum = np.cumsum(lengths[ranking.rows[:ok]])
    if len(cum) and cum[-1] >= budget:
        m = int(np.searchsorted(cum, budget, side="left")) + 1
        return np.arange(m), True
    return np.arange(ok), False


def rank_dense_until(
    index, seed_vectors: np.ndarray, how: str, lengths: np.ndarray, tokens: int, threshold
) -> Ranking:
    """Grow the dense ranking (doubling k) until it holds `tokens` tokens above the threshold."""
    mean_len = max(1.0, float(lengths.mean()))
    k = max(64, int(2 * tokens / mean_len))
    while True:
        ranking = rank_dense(index, seed_vectors, how, k)
        _, reached = take_budget(ranking, lengths, tokens, threshold)
        below = threshold is not None and len(ranking.scores) and ranking.scores[-1] < threshold
        if reached or below or ranking.complete:
            ranking.complete = ranking.complete or bool(below)
            return ranking
        k *= 2
