"""Training data of an SSAE under a token budget: random corpus, seeds alone, retrieval."""

from __future__ import annotations

import json
import random

import pytest

from ssae.errors import ToolkitError
from ssae.studies.selection import SELECTION_METHODS, select_data
from ssae.tokens import TokenDataset


def _doc(rng, lo, hi, n):
    return " ".join(f"w{rng.randrange(lo, hi)}" for _ in range(n))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """50 general documents (words w2..w39) and 10 of a subdomain (w40..w47), 6 words each."""
    rng = random.Random(0)
    docs = [{"id": f"g{i}", "text": _doc(rng, 2, 40, 6), "topic": "general"} for i in range(50)]
    docs += [{"id": f"s{i}", "text": _doc(rng, 40, 48, 6), "topic": "sub"} for i in range(10)]
    rng.shuffle(docs)
    path = tmp_path_factory.mktemp("corpus") / "corpus.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    return path


SEEDS = ["w40 w41 w42 w43", "w44 w45 w46 w47 w40"]


def test_full_is_a_seeded_random_budget(tiny_lm, corpus, tmp_path):
    a = select_data("full", corpus, SEEDS, tiny_lm, tmp_path / "a", 30, ctx_len=16, topic="sub")
    b = select_data("full", corpus, SEEDS, tiny_lm, tmp_path / "b", 30, ctx_len=16, seed=1)
    ta, tb = (
        TokenDataset.load(tmp_path / "a" / "tokens"),
        TokenDataset.load(tmp_path / "b" / "tokens"),
    )
    # documents of 6 tokens until the budget of 30 is reached: exactly 5
    assert a["n_docs"] == 5 and a["n_tokens"] == ta.n_tokens == 30
    assert ta.doc_ids != tb.doc_ids  # another seed, another sample
    assert a["precision"] == sum(d.startswith("s") for d in ta.doc_ids) / 5
    assert b["precision"] is None  # no topic asked for


def test_seed_method_trains_on_the_seeds_alone(tiny_lm, corpus, tmp_path):
    s = select_data("seed", corpus, SEEDS, tiny_lm, tmp_path / "s", 30, ctx_len=16)
    tokens = TokenDataset.load(tmp_path / "s" / "tokens")
    assert s["n_docs"] == 2 and s["n_tokens"] == 9 == tokens.n_tokens
    assert tokens.input_ids[0, :4].tolist() == [40, 41, 42, 43]


def test_bm25_finds_the_subdomain_and_a_finished_folder_is_reused(tiny_lm, corpus, tmp_path):
    s = select_data("bm25", corpus, SEEDS, tiny_lm, tmp_path / "r", 30, ctx_len=16, topic="sub")
    assert s["precision"] == 1.0 and s["n_tokens"] >= 30 and s["per_topic"] == {"sub": 5}
    tokens = TokenDataset.load(tmp_path / "r" / "tokens")
    assert all(d.startswith("s") for d in tokens.doc_ids)
    again = select_data("bm25", corpus, SEEDS, tiny_lm, tmp_path / "r", 999, ctx_len=16)
    assert again == s  # finished: returned as is


def test_methods_and_bad_method():
    assert SELECTION_METHODS == ("full", "seed", "dense", "bm25", "dense+tracin", "bm25+tracin")
    with pytest.raises(ToolkitError, match="unknown selection method"):
        select_data("magic", "x.jsonl", SEEDS, None, "out", 10)
