"""Presets: the paper's settings are the defaults; every departure is a named field of a preset."""

from __future__ import annotations

import pytest

from shift.presets import get_preset


def test_presets_name_their_probe_steps():
    assert get_preset("paper").probe.min_steps == 0  # the paper's one epoch
    assert get_preset("tiny").probe.min_steps == 0
    assert get_preset("micro").probe.min_steps == 100  # explicit: its sets are a few batches


def test_text_length_is_a_preset_setting():
    """Probes, circuits and ablations read whole biographies on the paper preset (the reference
    pads without truncating); the tiny worlds cut at their LM's training context."""
    assert get_preset("paper").max_text_tokens is None
    assert get_preset("tiny").max_text_tokens == 128
    assert get_preset("micro").max_text_tokens == 64


def test_presets_paper_values_and_lazy_tiny(monkeypatch):
    from shift import presets
    from ssae.retrieval.embed import resolve_embedder

    p = get_preset("paper")
    assert (p.model, p.bib, p.saes, p.sae_subfolder) == (
        "EleutherAI/pythia-70m-deduped",
        "LabHC/bias_in_bios",
        "saprmarks/pythia-70m-deduped-saes",
        "10_32768",
    )
    assert (p.sae_width, p.compress_k, p.retrieval.budget_tokens) == (32768, 4096, 8_000_000)
    assert len(p.submodule_names) == 16 and p.submodule_names[0] == "embed"
    assert get_preset("paper", model="/m", bib=None).resolve().model == "/m"

    class FakeWorld:
        model, bib, corpus = "/w/model", "/w/bib", "/w/corpus"

    calls = []
    monkeypatch.setattr(
        presets, "_world", lambda name, job=None, verify=False: calls.append(1) or FakeWorld
    )
    t = get_preset("tiny", model="/mine")
    assert not calls  # nothing is built before resolve()
    r = t.resolve()
    assert (r.model, r.bib, r.corpus, r.saes) == ("/mine", "/w/bib", "/w/corpus", None)
    assert (r.sae_width, r.compress_k) == (1024, 128)
    assert resolve_embedder(r.retrieval.embedder).endswith("model")
    with pytest.raises(Exception, match="unknown preset source"):
        get_preset("paper", colour="red")
