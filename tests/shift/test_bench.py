"""`shift bench` aggregation: mean and sample std over seeds, baselines counted once per seed."""

from __future__ import annotations

import pytest

from shift.commands.bench import markdown, summarize


def _row(method, seed, worst, prof=0.9, gender=0.5, variant="gsae"):
    return {
        "variant": variant,
        "seed": seed,
        "method": method,
        "worst_group_acc": worst,
        "profession_acc": prof,
        "gender_acc": gender,
    }


def test_mean_and_std_over_seeds():
    runs = [
        _row("Original", 0, 0.2),
        _row("GSAE SHIFT", 0, 0.6),
        _row("Oracle", 0, 0.9),
        _row("Original", 0, 0.2, variant="ssae"),
        _row("SSAE SHIFT", 0, 0.7, variant="ssae"),
        _row("Original", 1, 0.4),
        _row("GSAE SHIFT", 1, 0.8),
        _row("Oracle", 1, 0.9),
        _row("Original", 1, 0.4, variant="ssae"),
        _row("SSAE SHIFT", 1, 0.9, variant="ssae"),
    ]
    table = {r["method"]: r for r in summarize(runs)}
    assert list(table) == ["Original", "GSAE SHIFT", "SSAE SHIFT", "Oracle"]
    assert table["Original"]["n"] == 2  # shared by both variants, counted once per seed
    assert table["Original"]["worst_group_acc"] == pytest.approx(0.3)
    # sample std of (0.6, 0.8) = sqrt(((0.1)^2 + (0.1)^2) / 1)
    assert table["GSAE SHIFT"]["worst_group_acc_std"] == pytest.approx(0.1 * 2**0.5)
    assert table["Oracle"]["worst_group_acc_std"] == 0.0
    md = markdown(list(table.values()), 2)
    assert "| GSAE SHIFT | 70.0 +- 14.1 |" in md
