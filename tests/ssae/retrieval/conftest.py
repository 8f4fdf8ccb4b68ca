"""Fixtures for the retrieval tests: a small labelled corpus, a tiny GPTNeoX, and an SAE folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import pythia_tokenizer, save_gpt_neox
from tests.ssae.retrieval.retrieval_helpers import (
    make_corpus,
    one_thread,
    save_sae,
    train_sae,
    write_jsonl,
)


@pytest.fixture(scope="session")
def synth_corpus(tmp_path_factory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("corpus") / "corpus.jsonl", make_corpus())


@pytest.fixture(scope="session")
def bio_seeds() -> list[str]:
    docs = make_corpus(n=60, bio_frac=1.0, seed=123)
    return [d["text"] for d in docs[:5]]


@pytest.fixture(scope="session")
def neox_dir(tmp_path_factory, pythia_tokenizer_path) -> Path:
    """A 2-layer, 32-wide random GPTNeoX with the real Pythia tokenizer."""
    out = tmp_path_factory.mktemp("tiny_neox")
    tok = pythia_tokenizer(pythia_tokenizer_path)
    # the model is random but fixed (seed 0), so the bounds of the tests are reproducible
    return save_gpt_neox(out, tok, layers=2, max_position_embeddings=256)


@pytest.fixture(scope="session")
def neox_saes(tmp_path_factory, neox_dir) -> Path:
    """A dictionary_learning folder with an SAE at resid_out_layer1 fitted on a similar corpus."""
    from ssae.models import load_model

    lm = load_model(neox_dir)
    texts = [d["text"] for d in make_corpus(300, seed=7)]
    with one_thread():
        ae = train_sae(lm, "resid_out_layer1", texts, dict_size=128, l1=0.05)
    return save_sae(ae, tmp_path_factory.mktemp("saes"), "resid_out_layer1", 0.05)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with one_thread():
        yield
