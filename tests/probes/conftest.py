"""Fixtures for the probes tests: a small random GPTNeoX with the real Pythia tokenizer."""

from __future__ import annotations

import pytest

from tests.conftest import pythia_tokenizer, save_gpt_neox


@pytest.fixture(scope="session")
def small_lm_dir(tmp_path_factory, pythia_tokenizer_path):
    """A 3-layer, 32-wide random GPTNeoX saved with the Pythia tokenizer (seconds to build)."""
    out = tmp_path_factory.mktemp("small_neox")
    tok = pythia_tokenizer(pythia_tokenizer_path)
    return save_gpt_neox(out, tok, seed=1, layers=3, max_position_embeddings=256)


@pytest.fixture(scope="session")
def small_lm(small_lm_dir):
    from ssae.models import load_model

    return load_model(small_lm_dir)
