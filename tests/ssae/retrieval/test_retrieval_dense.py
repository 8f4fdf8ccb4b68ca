"""Dense retrieval: FAISS results against brute-force cosine similarity, seed merging, embedder."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ssae.retrieval.dense import DenseIndex
from ssae.retrieval.select import Ranking, rank_dense, take_budget


def unit(rng, n, d):
    v = rng.standard_normal((n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture
def vectors():
    return unit(np.random.default_rng(0), 500, 24)


def test_flat_index_equals_brute_force_cosine(vectors, tmp_path):
    index = DenseIndex.build(vectors, [f"d{i}" for i in range(len(vectors))])
    assert index.kind == "flat"
    index = DenseIndex.load(index.save(tmp_path / "idx"))  # what queries actually use
    q = unit(np.random.default_rng(1), 7, 24)
    scores, rows = index.search(q, 20)
    brute = q @ vectors.T
    for j in range(len(q)):
        expect = np.argsort(-brute[j], kind="stable")[:20]
        np.testing.assert_array_equal(rows[j], expect)
        np.testing.assert_allclose(scores[j], brute[j, expect], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("how", ["max", "mean"])
def test_merged_ranking_equals_brute_force(vectors, how):
    index = DenseIndex.build(vectors, [str(i) for i in range(len(vectors))])
    seeds = unit(np.random.default_rng(2), 5, 24)
    per_seed = seeds @ vectors.T
    merged = per_seed.max(0) if how == "max" else per_seed.mean(0)
    for k in (1, 10, 64):
        r = rank_dense(index, seeds, how, k)
        np.testing.assert_array_equal(r.rows, np.argsort(-merged, kind="stable")[:k])
        np.testing.assert_allclose(r.scores, np.sort(merged)[::-1][:k], rtol=1e-5, atol=1e-6)


def test_ivf_index_rescored_exactly_and_recalls_most(vectors):
    big = np.concatenate(
        [vectors + 0.05 * unit(np.random.default_rng(s), 500, 24) for s in range(8)]
    )
    big /= np.linalg.norm(big, axis=1, keepdims=True)
    index = DenseIndex.build(big, [str(i) for i in range(len(big))], ivf_min_docs=1000)
    assert index.kind == "ivf"
    seeds = unit(np.random.default_rng(3), 3, 24)
    r = rank_dense(index, seeds, "max", 50)
    exact = (seeds @ big.T).max(0)
    np.testing.assert_allclose(r.scores, exact[r.rows], rtol=1e-5, atol=1e-6)  # exact re-scoring
    recall = len(set(r.rows) & set(np.argsort(-exact)[:50])) / 50
    assert recall >= 0.8, recall


def test_take_budget_stops_when_budget_first_reached():
    r = Ranking(np.array([3, 1, 0, 2]), np.array([0.9, 0.8, 0.5, 0.1], dtype=np.float32), True)
    lengths = np.array([10, 20, 30, 40])
    pos, ok = take_budget(r, lengths, 40)  # doc 3 alone holds 40 tokens
    assert ok and pos.tolist() == [0]
    pos, ok = take_budget(r, lengths, 41)
    assert ok and pos.tolist() == [0, 1]
    pos, ok = take_budget(r, lengths, 61)
    assert ok and pos.tolist() == [0, 1, 2]
    pos, ok = take_budget(r, lengths, 61, threshold=0.6)  # only two docs above threshold
    assert not ok and pos.tolist() == [0, 1]


def test_embedder_is_mean_pooled_and_normalised():
    from transformers import AutoModel, AutoTokenizer

    from ssae.retrieval.embed import Embedder

    texts = ["a short one", "a somewhat longer sentence about nurses and hospitals", "physics"]
    emb = Embedder("minilm", dtype="float32", batch_size=2)
    got = emb.embed(texts, progress=False)
    tok = AutoTokenizer.from_pretrained(emb.path)
    model = AutoModel.from_pretrained(emb.path).eval()
    with torch.no_grad():
        for text, vec in zip(texts, got):
            h = model(**tok(text, return_tensors="pt")).last_hidden_state[0].mean(0)
            np.testing.assert_allclose(vec, (h / h.norm()).numpy(), atol=1e-5)
    fast = Embedder("minilm", dtype="auto").embed(texts, progress=False)
    assert np.min(np.sum(fast * got, axis=1)) > 0.99  # bf16 on CPUs that have it


class _Prepared:
    """What the dense index reads of a prepared corpus: n documents, their ids and texts."""

    def __init__(self, n: int, key: str = "corpus-key"):
        self.key, self.docs = key, [f"document {i}" for i in range(n)]

    def __len__(self):
        return len(self.docs)

    def doc_id(self, k):
        return f"d{k}"

    def texts(self):
        return list(self.docs)


def test_concurrent_builds_embed_the_corpus_once(tmp_path):
    """Two runs sharing a cache that need the same index: one embeds, the other loads it."""
    import threading
    import time

    from ssae.retrieval.dense import dense_index_for

    class SlowEmbedder:
        key = "embedder-key"
        calls = 0

        def embed(self, texts, progress=True):
            SlowEmbedder.calls += 1
            time.sleep(0.5)  # long enough for the other thread to arrive while this one embeds
            v = np.random.default_rng(0).normal(size=(len(texts), 8)).astype(np.float32)
            return v / np.linalg.norm(v, axis=1, keepdims=True)

    results = []

    def build():
        results.append(dense_index_for(_Prepared(40), SlowEmbedder(), cache_dir=tmp_path))

    threads = [threading.Thread(target=build) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert SlowEmbedder.calls == 1
    assert [len(r) for r in results] == [40, 40]


def test_shards_are_keyed_by_content_and_embedder(tmp_path):
    """Texts embedded under one corpus key (another path) are read, not embedded again, by the
    index of the same texts; another embedder or other texts embed anew; the index deletes its
    shards once it holds the vectors."""
    from ssae.retrieval.dense import corpus_embeddings, dense_index_for

    class CountingEmbedder:
        def __init__(self, key):
            self.key, self.calls = key, 0

        def embed(self, texts, progress=True):
            self.calls += 1
            rng = np.random.default_rng(len(texts))
            v = rng.normal(size=(len(texts), 8)).astype(np.float32)
            return v / np.linalg.norm(v, axis=1, keepdims=True)

    emb, prepared = CountingEmbedder("e"), _Prepared(25, key="the corpus at its final path")
    early, shards = corpus_embeddings(prepared.texts(), emb, tmp_path, shard_size=10)
    assert emb.calls == 3 and len(shards) == 3 and all(f.exists() for f in shards)
    index = dense_index_for(prepared, emb, cache_dir=tmp_path, shard_size=10)
    assert emb.calls == 3  # every shard was read from the cache
    np.testing.assert_array_equal(index.vectors(np.arange(25)), early)
    assert not any(f.exists() for f in shards)
    corpus_embeddings(prepared.texts()[:10], CountingEmbedder("other"), tmp_path, shard_size=10)
    corpus_embeddings(prepared.texts()[1:11], emb, tmp_path, shard_size=10)
    assert emb.calls == 4
