"""Corpus loading (jsonl, parquet, hub id offline) and the cut to the model's first N tokens."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ssae.errors import DataError
from ssae.retrieval import load_corpus, prepare_corpus, read_seed_file


@pytest.fixture
def tokenizer(pythia_tokenizer_path):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_file=str(pythia_tokenizer_path),
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
    )


ROWS = [
    {"id": "a", "text": "short one", "topic": "x"},
    {"id": "b", "text": "word " * 300, "topic": "y"},
    {"id": "c", "text": "", "topic": "x"},
    {"id": "d", "text": "Unicode: café naïve 東京 " * 20, "topic": "y"},
]


def test_jsonl_and_parquet_agree_and_cut_to_first_tokens(tmp_path, tokenizer):
    import pyarrow as pa
    import pyarrow.parquet as pq

    jl = tmp_path / "c.jsonl"
    jl.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    pq.write_table(pa.Table.from_pylist(ROWS), tmp_path / "c.parquet")
    a, b = load_corpus(jl), load_corpus(tmp_path / "c.parquet")
    assert a.ids == b.ids == ["a", "b", "c", "d"] and a.topics == b.topics == ["x", "y", "x", "y"]
    prepared = prepare_corpus(a, tokenizer, ctx_len=16, cache_dir=tmp_path / "cache")
    full_a = tokenizer("short one", add_special_tokens=False)["input_ids"]
    assert [prepared.doc_id(k) for k in range(len(prepared))] == ["a", "b", "d"]  # empty dropped
    for k in range(len(prepared)):
        full = tokenizer(a.texts[prepared.rows[k]], add_special_tokens=False)["input_ids"]
        assert prepared.token_ids(k).tolist() == full[:16]
        # The cut text is those tokens' text; a token that holds part of a multi-byte character
        # pulls in the rest of that character, hence at most one token more.
        recut = tokenizer(prepared.text(k), add_special_tokens=False)["input_ids"]
        assert recut[:16] == full[:16] and len(recut) <= 17
    again = prepare_corpus(a, tokenizer, ctx_len=16, cache_dir=tmp_path / "cache")  # from cache
    np.testing.assert_array_equal(again.flat_ids, prepared.flat_ids)
    assert prepared.n_tokens == int(prepared.lengths.sum()) == len(full_a) + 16 + 16


def test_corpus_errors_are_one_line(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_corpus(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"txt": "no text field"}\n')
    with pytest.raises(DataError, match="needs a string field 'text'"):
        load_corpus(bad)
    dup = tmp_path / "dup.jsonl"
    dup.write_text('{"id": 1, "text": "a"}\n{"id": 1, "text": "b"}\n')
    with pytest.raises(DataError, match="duplicate"):
        load_corpus(dup)


def test_hub_corpus_offline_is_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(DataError, match="neither a local file nor a reachable") as e:
        load_corpus("someone/some-corpus", max_docs=5, cache_dir=tmp_path)
    assert "\n" not in str(e.value)
    assert not any(tmp_path.rglob("*.jsonl"))


def test_seed_files(tmp_path):
    plain = tmp_path / "s.txt"
    plain.write_text("first seed\n\n second seed \n")
    assert read_seed_file(plain) == ["first seed", "second seed"]
    jl = tmp_path / "s.jsonl"
    jl.write_text(json.dumps({"text": "a b"}) + "\n" + json.dumps({"text": "c"}) + "\n")
    assert read_seed_file(jl) == ["a b", "c"]
    empty = tmp_path / "e.txt"
    empty.write_text("")
    with pytest.raises(DataError, match="empty"):
        read_seed_file(empty)
