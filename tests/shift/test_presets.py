"""Presets: the paper's settings are the defaults; every departure is a named field of a preset."""

from __future__ import annotations

from shift.presets import get_preset


def test_presets_name_their_probe_steps():
    assert get_preset("paper").probe_min_steps == 0  # the paper's one epoch
    assert get_preset("tiny").probe_min_steps == 0
    assert get_preset("micro").probe_min_steps == 100  # explicit: its sets are a few batches


def test_text_length_is_a_preset_setting():
    """Probes, circuits and ablations read whole biographies on the paper preset (the reference
    pads without truncating); the tiny worlds cut at their LM's training context."""
    assert get_preset("paper").max_text_tokens is None
    assert get_preset("tiny").max_text_tokens == 128
    assert get_preset("micro").max_text_tokens == 64
