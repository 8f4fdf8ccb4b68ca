"""Shared fixtures. Everything here is offline: the hub is never touched."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402
import torch  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
PYTHIA_TOKENIZER = SHARED / "assets" / "pythia-tokenizer" / "tokenizer.json"


@pytest.fixture(scope="session")
def pythia_tokenizer_path() -> Path:
    if not PYTHIA_TOKENIZER.exists():
        pytest.skip(f"real Pythia tokenizer not found at {PYTHIA_TOKENIZER}")
    return PYTHIA_TOKENIZER


@pytest.fixture(scope="session")
def pythia70m_dir(tmp_path_factory, pythia_tokenizer_path) -> Path:
    """A randomly initialised Pythia-70M-shaped GPTNeoX saved locally with the real tokenizer."""
    from transformers import GPTNeoXForCausalLM, PreTrainedTokenizerFast

    from ssae.models import pythia70m_config

    out = tmp_path_factory.mktemp("pythia70m")
    torch.manual_seed(0)
    config = pythia70m_config()
    GPTNeoXForCausalLM(config).save_pretrained(out)
    tok = PreTrainedTokenizerFast(
        tokenizer_file=str(pythia_tokenizer_path),
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        pad_token="<|endoftext|>",
    )
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def shift_home(tmp_path_factory) -> Path:
    """One SHIFT_HOME for the whole test session, so the micro world is built once."""
    home = Path(os.environ.get("SHIFT_TEST_HOME") or tmp_path_factory.mktemp("shift_home"))
    os.environ["SHIFT_HOME"] = str(home)
    return home


@pytest.fixture(scope="session")
def micro_world(shift_home):
    """The micro tiny-world (corpus, tokenizer, 6-layer GPTNeoX, BiB-schema dataset), built once."""
    from shift.world import ensure_world

    return ensure_world("micro", home=shift_home)
