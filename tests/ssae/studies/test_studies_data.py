"""Splitting a subdomain's documents and locating concept mentions in token positions."""

from __future__ import annotations

import pytest
import torch

from ssae.errors import DataError
from ssae.studies.data import Concept, concept_masks, split_documents
from ssae.tokens import TokenDataset


def test_split_is_disjoint_sized_and_deterministic():
    texts = [f"doc {i}" for i in range(20)] + ["", "  "]
    a = split_documents(texts, {"seeds": 3, "val": 5, "test": 10})
    assert {k: len(v) for k, v in a.items()} == {"seeds": 3, "val": 5, "test": 10}
    flat = [t for v in a.values() for t in v]
    assert len(set(flat)) == 18 and "" not in flat
    assert a == split_documents(texts, {"seeds": 3, "val": 5, "test": 10})
    assert a != split_documents(texts, {"seeds": 3, "val": 5, "test": 10}, seed=1)
    with pytest.raises(DataError, match="20 non-empty documents but the study needs 21"):
        split_documents(texts, {"seeds": 1, "test": 20})


def test_concept_masks_mark_whole_word_mentions(tiny_lm):
    tok = tiny_lm.tokenizer
    texts = ["w5 w6 w7 w6", "w8 w9", "w66 w6"]  # "w66" is not a mention of "w6"
    masks = concept_masks(texts, tok, [Concept("six", ("W6",)), Concept("pair", ("w8 w9",))], 8)
    data = TokenDataset.from_texts(texts, tok, ctx_len=8)
    assert masks["six"].shape == data.input_ids.shape
    assert masks["six"].nonzero().tolist() == [[0, 1], [0, 3], [2, 1]]
    assert masks["pair"].nonzero().tolist() == [[1, 0], [1, 1]]
    # every marked position holds the concept's token
    assert (data.input_ids[masks["six"]] == 6).all()


def test_concept_needs_a_form():
    with pytest.raises(DataError, match="non-empty surface form"):
        Concept("x", ())
    c = Concept("a", ("b", "c"), 3)
    assert Concept.from_json(c.to_json()) == c
    assert torch.tensor(0).item() == 0
