"""How a study turns runs into its AUC table: per-seed areas, their mean and std, best on validation.

Synthetic runs with hand-computed areas; no model, no world.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from shift.study.runs import RunSpec
from shift.study.studies import curve_summary, effective_tokens, gsae_summary

GSAE = {"val": {"l0": 100.0, "ppl_spliced": 10.0}, "test": {"l0": 100.0, "ppl_spliced": 10.0}}


def _ctx(relative: bool = True):
    study = SimpleNamespace(auc_l0=(0.5, 1.5) if relative else (50.0, 150.0), seeds=(0, 1))
    study.auc_relative = relative
    return SimpleNamespace(study=study, data=SimpleNamespace(eval_splits=["val", "test"]))


def _run(factor, seed, l0, ppl, val_ce):
    spec = RunSpec("finetune", "dense", l1_factor=factor, seed=seed)
    return spec, {"val": {"ce_spliced": val_ce}, "test": {"l0": l0, "ppl_spliced": ppl}}


RUNS = [
    # seed 0: (60, 12), (140, 8) -> over [50, 150]: 10 * 12 + 80 * (12 + 8) / 2 + 10 * 8 = 1000
    _run(2.0, 0, 60.0, 12.0, val_ce=2.0),
    _run(1.0, 0, 140.0, 8.0, val_ce=1.0),
    # seed 1: (60, 14), (140, 10) -> 140 + 960 + 100 = 1200
    _run(2.0, 1, 60.0, 14.0, val_ce=1.0),
    _run(1.0, 1, 140.0, 10.0, val_ce=2.0),
]


@pytest.mark.parametrize("relative", [True, False])
def test_auc_per_seed_mean_std_and_best_on_validation(relative):
    out = curve_summary(_ctx(relative), RUNS, GSAE)
    assert list(out) == ["test"]  # validation only selects, it is not reported
    t = out["test"]
    assert t["l0_range"] == [50.0, 150.0]
    assert t["per_seed"] == pytest.approx([10.0, 12.0])  # area / range width
    assert t["mean"] == pytest.approx(11.0) and t["std"] == pytest.approx(math.sqrt(2))
    # best on validation: factor 2 -> seed 1 (60, 14); factor 1 -> seed 0 (140, 8)
    # 10 * 14 + 80 * 11 + 10 * 8 = 1100 -> 11; relative to the GSAE's perplexity 10: 1.1
    assert [(p["l1_factor"], p["seed"]) for p in t["points"]] == [(2.0, 1), (1.0, 0)]
    assert t["best_on_val"] == pytest.approx(11.0)
    assert t["best_on_val_relative"] == pytest.approx(1.1)
    assert t["covered"] == pytest.approx(0.8)


def test_the_general_sae_is_a_flat_line():
    assert gsae_summary(_ctx(), GSAE) == {"test": pytest.approx(10.0)}


def test_effective_tokens_of_the_tilt():
    losses = torch.tensor([1.0, 1.0, 1.0, 2.0])
    assert effective_tokens(losses, 0.0, batch=4) == pytest.approx(4.0)
    # t = 1e9 puts all weight on the single worst token
    assert effective_tokens(losses, 1e9, batch=4) == pytest.approx(1.0)
    # t = ln 3: weights (1, 1, 1, 3) / 6 -> 1 / sum w^2 = 36 / 12 = 3
    assert effective_tokens(losses, math.log(3), batch=4) == pytest.approx(3.0)
