"""Presets: the paper's settings are the defaults; every departure is a named field of a preset."""

from __future__ import annotations

from shift.presets import get_preset


def test_presets_name_their_probe_steps():
    assert get_preset("paper").probe_min_steps == 0  # the paper's one epoch
    assert get_preset("tiny").probe_min_steps == 0
    assert get_preset("micro").probe_min_steps == 100  # explicit: its sets are a few batches
