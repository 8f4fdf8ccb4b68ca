"""Fixtures of the ssae tests: a tiny random GPTNeoX with a word-level tokenizer, token datasets."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import make_gpt_neox

VOCAB = 100
PAD = 0


@pytest.fixture
def one_thread():
    # tiny matrices: one thread avoids OpenMP spin-waiting on a shared 2-core machine
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """GPTNeoX (hidden 32, 2 layers, vocab 100) and a word-level tokenizer ("w2" .. "w99")."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    out = tmp_path_factory.mktemp("tiny_neox")
    model = make_gpt_neox(
        vocab=VOCAB, layers=2, max_position_embeddings=64, bos_token_id=PAD, eos_token_id=PAD
    )
    model.model.save_pretrained(out)
    vocab = {"[PAD]": PAD, "[UNK]": 1} | {f"w{i}": i for i in range(2, VOCAB)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", eos_token="[PAD]"
    )
    fast.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_lm(tiny_model_dir):
    from ssae.models import load_model

    return load_model(tiny_model_dir)


def _make_tokens(
    n_docs: int, ctx: int, low: int = 2, high: int = VOCAB, seed: int = 0, min_len: int = 4
):
    """Random documents of random length, right-padded with PAD."""
    from ssae.tokens import TokenDataset

    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(low, high, (n_docs, ctx), generator=g, dtype=torch.int32)
    lengths = torch.randint(min_len, ctx + 1, (n_docs,), generator=g, dtype=torch.int32)
    for i in range(n_docs):
        ids[i, lengths[i] :] = PAD
    return TokenDataset(ids, lengths, PAD, source=f"random[{low},{high})")


@pytest.fixture(scope="session")
def make_tokens():
    """Factory: make_tokens(n_docs, ctx, low=2, high=VOCAB, seed=0, min_len=4) -> TokenDataset."""
    return _make_tokens


@pytest.fixture(scope="session")
def general_tokens():
    return _make_tokens(48, 24, seed=1)


@pytest.fixture(scope="session")
def narrow_tokens():
    """A 'subdomain': only 8 token types, a distribution the general SAEs saw little of."""
    return _make_tokens(32, 24, low=40, high=48, seed=2)
