"""Pooled activations against a brute-force one-text-at-a-time forward, and the disk cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

import probes.activations as A
from probes.activations import default_submodule, pooled_activations

TEXTS = [
    "She has been a nurse at the county hospital for twelve years.",
    "He is a professor of physics.",
    "Dr. Smith teaches",
    "",
    "He is a professor of history at a large public university and writes about the Roman "
    "republic, its law and its wars.",
    "She",
]


def brute_force(lm, texts, submodule, max_length=128):
    """Each text alone, no padding; mean over its tokens of the submodule's output."""
    spec = lm.submodule(submodule)
    out = []
    for t in texts:
        ids = lm.tokenizer(t, truncation=True, max_length=max_length)["input_ids"] or [0]
        got = {}
        handle = spec.module(lm.model).register_forward_hook(
            lambda m, i, o, got=got: got.__setitem__("x", o[0] if isinstance(o, tuple) else o)
        )
        with torch.no_grad():
            lm.model(input_ids=torch.tensor([ids]))
        handle.remove()
        out.append(got["x"][0].mean(0))
    return torch.stack(out)


def test_default_submodule_is_penultimate_residual(small_lm):
    assert default_submodule(small_lm) == "resid_out_layer1"


@pytest.mark.parametrize("submodule", ["resid_out_layer1", "attn_out_layer2", "embed"])
def test_matches_brute_force(small_lm, submodule, tmp_path):
    ref = brute_force(small_lm, TEXTS, submodule)
    for sort in (True, False):
        got = A.compute_pooled(
            small_lm, TEXTS, submodule, batch_size=4, sort_by_length=sort, progress=False
        )
        torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-5)
    short = A.compute_pooled(small_lm, TEXTS, submodule, batch_size=3, max_length=5, progress=False)
    torch.testing.assert_close(
        short, brute_force(small_lm, TEXTS, submodule, max_length=5), rtol=1e-4, atol=1e-5
    )


def test_batches_cover_rows_once():
    lengths = [5, 1, 9, 3, 3, 7, 2]
    sorted_b = A.length_sorted_batches(lengths, 3)
    assert sorted(i for b in sorted_b for i in b) == list(range(7))
    assert [lengths[i] for i in sorted_b[0]] == [9, 7, 5]
    assert A.naive_batches(7, 3) == [[0, 1, 2], [3, 4, 5], [6]]


def test_cache_computes_once_and_keys_on_inputs(small_lm, tmp_path, monkeypatch):
    first = pooled_activations(small_lm, TEXTS, cache_dir=tmp_path, progress=False)
    assert len(list(tmp_path.glob("*.safetensors"))) == 1

    def boom(*a, **k):
        raise AssertionError("recomputed a cached set")

    monkeypatch.setattr(A, "compute_pooled", boom)
    torch.testing.assert_close(
        pooled_activations(small_lm, TEXTS, cache_dir=tmp_path, progress=False), first
    )
    k = A.activations_key
    base = k(small_lm, TEXTS, "resid_out_layer1", 128)
    assert k(small_lm, TEXTS[:-1], "resid_out_layer1", 128) != base
    assert k(small_lm, TEXTS[::-1], "resid_out_layer1", 128) != base
    assert k(small_lm, TEXTS, "resid_out_layer0", 128) != base
    assert k(small_lm, TEXTS, "resid_out_layer1", 64) != base
    # The key names the weights' bytes: a touched file keeps it, weights rewritten in place (the
    # model retrained, or another copied in with the old times) change it.
    weights = next(p for p in os.scandir(small_lm.name) if p.name.endswith(".safetensors"))
    st, original = os.stat(weights.path), Path(weights.path).read_bytes()
    os.utime(weights.path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert k(small_lm, TEXTS, "resid_out_layer1", 128) == base
    changed = bytearray(original)
    changed[-8:] = bytes(b ^ 0xFF for b in changed[-8:])
    try:
        Path(weights.path).write_bytes(bytes(changed))
        os.utime(weights.path, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert k(small_lm, TEXTS, "resid_out_layer1", 128) != base
    finally:
        Path(weights.path).write_bytes(original)
        os.utime(weights.path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_none_reads_every_token(small_lm):
    """max_length=None pools over the whole text: the mean of all its hidden states."""
    text = "The nurse walked the long ward at night. " * 15
    n_tokens = len(small_lm.tokenizer(text)["input_ids"])
    assert n_tokens > 128
    got = A.compute_pooled(small_lm, [text], "resid_out_layer1", max_length=None, progress=False)
    with torch.no_grad():
        ids = torch.tensor([small_lm.tokenizer(text)["input_ids"]])
        hs = small_lm.model(input_ids=ids, output_hidden_states=True).hidden_states[2]
    torch.testing.assert_close(got[0], hs[0].mean(0), rtol=1e-4, atol=1e-5)
    cut = A.compute_pooled(small_lm, [text], "resid_out_layer1", max_length=128, progress=False)
    torch.testing.assert_close(cut[0], hs[0, :128].mean(0), rtol=1e-4, atol=1e-5)
    enc = small_lm.tokenize([text, "short"], max_length=None)
    assert enc["input_ids"].shape == (2, n_tokens) and enc["attention_mask"][1].sum() < 5
