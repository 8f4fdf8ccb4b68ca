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


def neox_config(hidden=32, layers=2, vocab=50304, heads=4, intermediate=None, **overrides):
    """A GPTNeoX config of Pythia-70M's kind, `hidden` wide and `layers` deep."""
    from ssae.models import pythia70m_config

    return pythia70m_config(
        vocab_size=vocab,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate or 2 * hidden,
        **overrides,
    )


def make_gpt_neox(tokenizer=None, seed=0, dtype=None, name="random", **config):
    """A randomly initialised GPTNeoX (seeded) as a `LoadedModel`; `config` as in `neox_config`."""
    from transformers import GPTNeoXForCausalLM

    from ssae.models import LoadedModel

    torch.manual_seed(seed)
    model = GPTNeoXForCausalLM(neox_config(**config)).eval()
    if dtype is not None:
        model = model.to(dtype)
    return LoadedModel(model=model, tokenizer=tokenizer, name=name)


def save_gpt_neox(out: Path, tokenizer, seed=0, **config) -> Path:
    """`make_gpt_neox`'s model and `tokenizer`, saved as a Hugging Face model directory."""
    make_gpt_neox(seed=seed, **config).model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def pythia_tokenizer(path: Path = PYTHIA_TOKENIZER):
    """The real Pythia (GPT-NeoX-20B) tokenizer, `<|endoftext|>` as every special token."""
    from transformers import PreTrainedTokenizerFast

    special = "<|endoftext|>"
    return PreTrainedTokenizerFast(
        tokenizer_file=str(path),
        bos_token=special,
        eos_token=special,
        unk_token=special,
        pad_token=special,
    )


@pytest.fixture(scope="session")
def pythia_tokenizer_path() -> Path:
    if not PYTHIA_TOKENIZER.exists():
        pytest.skip(f"real Pythia tokenizer not found at {PYTHIA_TOKENIZER}")
    return PYTHIA_TOKENIZER


@pytest.fixture(scope="session")
def pythia70m_dir(tmp_path_factory, pythia_tokenizer_path) -> Path:
    """A randomly initialised Pythia-70M-shaped GPTNeoX saved locally with the real tokenizer."""
    out = tmp_path_factory.mktemp("pythia70m")
    tok = pythia_tokenizer(pythia_tokenizer_path)
    return save_gpt_neox(out, tok, hidden=512, layers=6, heads=8, intermediate=2048)


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


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium (tests/browser.py); skips where it is not installed."""
    from tests.browser import chromium, missing

    why = missing()
    if why is not None:
        pytest.skip(why)
    with chromium() as context:
        yield context


def pytest_collection_modifyitems(config, items):
    """Every test that needs the micro world (built once per session, minutes on 2 cores) is
    `slow`, so `pytest -m "not slow"` runs without building it; the others that are slow carry
    the marker themselves."""
    for item in items:
        if "micro_world" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
