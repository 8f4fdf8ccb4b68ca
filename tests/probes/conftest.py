"""Fixtures for the probes tests: a small random GPTNeoX with the real Pythia tokenizer."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="session")
def small_lm_dir(tmp_path_factory, pythia_tokenizer_path):
    """A 3-layer, 32-wide random GPTNeoX saved with the Pythia tokenizer (seconds to build)."""
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM, PreTrainedTokenizerFast

    out = tmp_path_factory.mktemp("small_neox")
    torch.manual_seed(1)
    config = GPTNeoXConfig(
        vocab_size=50304,
        hidden_size=32,
        num_hidden_layers=3,
        num_attention_heads=4,
        intermediate_size=64,
        rotary_pct=0.25,
        max_position_embeddings=256,
        bos_token_id=0,
        eos_token_id=0,
    )
    GPTNeoXForCausalLM(config).save_pretrained(out)
    PreTrainedTokenizerFast(
        tokenizer_file=str(pythia_tokenizer_path),
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        pad_token="<|endoftext|>",
    ).save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def small_lm(small_lm_dir):
    from ssae.models import load_model

    return load_model(small_lm_dir)
