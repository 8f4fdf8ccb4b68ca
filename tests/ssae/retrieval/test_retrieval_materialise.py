"""Documents from a file with other field names, filtered: the jsonl every loader reads."""

from __future__ import annotations

import json

import pytest

from ssae.errors import DataError
from ssae.retrieval.corpus import load_corpus, materialise


def test_fields_are_joined_filtered_and_cut(tmp_path, monkeypatch):
    monkeypatch.setenv("SHIFT_HOME", str(tmp_path / "home"))
    rows = [
        {"q": "What is spin?", "a": "An angular momentum.", "score": 0.9, "meta": {"set": "A"}},
        {"q": "Hi", "a": ["a", "list", "answer"], "score": 0.2, "meta": {"set": "B"}},
        {"q": "Why?", "a": "Because.", "score": 0.7, "meta": {"set": "A"}},
    ]
    src = tmp_path / "src.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = materialise(src, text_field="q+a")
    assert load_corpus(out).texts == [
        "What is spin?\nAn angular momentum.",
        "Hi\na list answer",
        "Why?\nBecause.",
    ]
    high = materialise(src, text_field="q", where=("score", ">=", 0.5))
    assert load_corpus(high).texts == ["What is spin?", "Why?"]
    nested = materialise(src, max_docs=1, text_field="a", where=("meta.set", "A"))
    assert load_corpus(nested).texts == ["An angular momentum."]
    assert materialise(src, text_field="q+a") == out  # written once, then reused
    with pytest.raises(DataError, match="has no field 'body'"):
        materialise(src, text_field="body")


def test_a_plain_text_file_is_used_as_it_is(tmp_path):
    src = tmp_path / "c.jsonl"
    src.write_text(json.dumps({"text": "x"}) + "\n")
    assert materialise(src) == src
