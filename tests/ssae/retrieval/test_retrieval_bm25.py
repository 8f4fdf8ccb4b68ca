"""BM25 scores against the textbook Okapi formula with Lucene idf (bm25s's default variant)."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from ssae.retrieval.bm25 import BM25Index, terms

DOCS = [
    "The nurse cared for the patient in the hospital ward.",
    "A professor of physics taught quantum mechanics to students.",
    "The nurse and the doctor discussed the patient's chart, and the nurse left.",
    "Bake the bread for twenty minutes.",
    "Quantum quantum quantum field theory for the professor.",
    "",
]
QUERIES = ["nurse patient", "quantum professor students", "bread nurse nurse", "zebra", "the"]


def textbook_bm25(query: str, docs: list[str], k1: float = 1.5, b: float = 0.75) -> np.ndarray:
    """Okapi BM25 with idf = ln(1 + (N - df + 0.5) / (df + 0.5)), each distinct query term once."""
    toks = [terms(d) or [""] for d in docs]  # the index stores "" for an empty document
    n = len(toks)
    avgdl = sum(len(t) for t in toks) / n
    df = Counter(w for t in toks for w in set(t))
    out = np.zeros(n)
    for w in set(terms(query)):
        if df[w] == 0:
            continue
        idf = math.log(1 + (n - df[w] + 0.5) / (df[w] + 0.5))
        for j, t in enumerate(toks):
            tf = t.count(w)
            out[j] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(t) / avgdl))
    return out


@pytest.mark.parametrize("query", QUERIES)
def test_bm25s_scores_equal_textbook_formula(query):
    index = BM25Index.build(DOCS, [str(i) for i in range(len(DOCS))])
    np.testing.assert_allclose(
        index.scores(query), textbook_bm25(query, DOCS), rtol=1e-5, atol=1e-6
    )


def test_bm25s_default_is_lucene_idf():
    import bm25s

    assert bm25s.BM25().idf_method == "lucene" and bm25s.BM25().method == "lucene"
    # A term in every document still has positive idf under Lucene's idf (Robertson's would be < 0).
    docs = ["cat dog", "cat bird", "cat fish"]
    index = BM25Index.build(docs, ["a", "b", "c"])
    assert (index.scores("cat") > 0).all()


def test_bm25_index_roundtrip(tmp_path):
    index = BM25Index.build(DOCS, [f"d{i}" for i in range(len(DOCS))])
    index.save(tmp_path / "bm25")
    again = BM25Index.load(tmp_path / "bm25")
    assert again.doc_ids == index.doc_ids
    for q in QUERIES:
        np.testing.assert_array_equal(again.scores(q), index.scores(q))
