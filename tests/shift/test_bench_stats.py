"""The bench's statistics (shift.bench_stats) against their textbook definitions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from probes.metrics import evaluate_predictions, pack_bits, unpack_bits
from shift.bench_stats import (
    PoolLabels,
    RowCells,
    _cell_metrics,
    bootstrap,
    paired_difference,
    summarize,
)

GROUP = 50  # four profession x gender groups of 50; the first 20 of each are the balanced set


def _pool() -> PoolLabels:
    prof = np.repeat([False, False, True, True], GROUP)
    gender = np.repeat([False, True, False, True], GROUP)
    balanced = np.tile(np.arange(GROUP) < 20, 4)
    return PoolLabels(prof, gender, balanced)


def _predictions(pool: PoolLabels, wrong_per_group: tuple[int, int, int, int]) -> np.ndarray:
    """Correct predictions except the first `wrong` members of each group."""
    pred = pool.profession.copy()
    for g, idx in enumerate(pool.groups()):
        pred[idx[: wrong_per_group[g]]] = ~pred[idx[: wrong_per_group[g]]]
    return pred


def test_packed_predictions_round_trip():
    x = torch.randint(0, 2, (1001,), generator=torch.Generator().manual_seed(0))
    assert torch.equal(unpack_bits(pack_bits(x), 1001).long(), x)


def test_point_estimates_are_the_metrics_of_probes_metrics():
    pool = _pool()
    pred = _predictions(pool, (5, 30, 0, 12))
    t = {k: torch.as_tensor(v).long() for k, v in vars(pool).items()}
    groups = {str(i): torch.as_tensor(g) for i, g in enumerate(pool.groups())}
    ref = evaluate_predictions(
        "m",
        torch.as_tensor(pred).long(),
        t["profession"],
        t["gender"],
        torch.as_tensor(np.flatnonzero(pool.balanced)),
        torch.arange(0),
        groups,
    )
    stats = bootstrap([RowCells("m", {(0, 0): pred})], pool, [0], [0], n_reps=200)
    mean = stats["m"]["mean"]
    assert mean[0] == pytest.approx(ref.profession_acc)
    assert mean[1] == pytest.approx(ref.gender_acc)
    assert mean[2] == pytest.approx(ref.worst_group_acc) == pytest.approx(20 / 50)


def test_replicate_weights_equal_explicit_resampling():
    """The counts formulation is the same as resampling example indices explicitly."""
    pool = _pool()
    pred = _predictions(pool, (5, 30, 0, 12))
    rng = np.random.default_rng(3)
    group_w, bal_w = [], np.zeros((1, pool.n), np.float32)
    explicit_groups, explicit_bal = [], []
    for idx in pool.groups():
        draw = rng.integers(0, len(idx), len(idx))
        group_w.append(np.bincount(draw, minlength=len(idx))[None].astype(np.float32))
        explicit_groups.append(idx[draw])
        members = idx[pool.balanced[idx]]
        bdraw = rng.integers(0, len(members), len(members))
        bal_w[0, members] = np.bincount(bdraw, minlength=len(members))
        explicit_bal.append(members[bdraw])
    got = _cell_metrics(pred, pool, group_w, bal_w, balanced_only=False)[0]
    bal = np.concatenate(explicit_bal)
    assert got[0] == pytest.approx(np.mean(pred[bal] == pool.profession[bal]))
    assert got[1] == pytest.approx(np.mean(pred[bal] == pool.gender[bal]))
    worst = min(np.mean(pred[g] == pool.profession[g]) for g in explicit_groups)
    assert got[2] == pytest.approx(worst)


def test_seed_levels_and_pairing():
    """Group accuracies of 0 or 1 do not move when test examples are resampled: the spread comes
    from the SAE-seed level alone; a row that does not depend on the SAE seed has one level; a
    difference of a row with itself is exactly 0 in every replicate."""
    pool = _pool()
    good = pool.profession.copy()
    one_group_wrong = _predictions(pool, (0, GROUP, 0, 0))
    rows = [
        # SAE seed 0 -> every group right, SAE seed 1 -> one group all wrong; run seeds identical
        RowCells(
            "edit", {(a, s): good if a == 0 else one_group_wrong for a in (0, 1) for s in (0, 1)}
        ),
        RowCells("reference", {(0, s): one_group_wrong for s in (0, 1)}),
    ]
    stats = bootstrap(rows, pool, [0, 1], [0, 1], n_reps=400, seed=1)
    worst = stats["edit"]["replicates"][:, 2]
    assert set(np.round(worst, 6)) == {1.0, 0.5, 0.0}  # the mean of two SAE-seed draws
    assert stats["edit"]["mean"][2] == pytest.approx(0.5)
    assert np.allclose(stats["reference"]["replicates"][:, 2], 0.0)
    assert np.allclose(stats["reference"]["replicates"][:, 0], 0.75)  # balanced: 3 of 4 groups
    same = paired_difference(stats, "edit", "edit")["worst_group_acc"]
    assert same["point"] == 0 and same["ci95"] == [0, 0]
    diff = paired_difference(stats, "edit", "reference")["worst_group_acc"]
    assert diff["point"] == pytest.approx(0.5) and 0.6 < diff["p_positive"] < 0.9


def test_scr_is_computed_per_replicate_against_original_and_oracle():
    pool = _pool()
    rows = [
        RowCells("Original", {(0, 0): _predictions(pool, (0, 40, 0, 0))}),
        RowCells("Oracle", {(0, 0): _predictions(pool, (0, 5, 0, 0))}),
        RowCells("GSAE SHIFT", {(0, 0): _predictions(pool, (0, 15, 0, 0))}),
    ]
    summary = summarize(bootstrap(rows, pool, [0], [0], n_reps=300))
    scr = summary["GSAE SHIFT"]["scr"]["worst_group_acc"]
    # worst group: Original 10/50, Oracle 45/50, SHIFT 35/50 -> (0.7 - 0.2) / (0.9 - 0.2)
    assert scr["point"] == pytest.approx((0.7 - 0.2) / (0.9 - 0.2))
    assert scr["ci95"][0] < scr["point"] < scr["ci95"][1]
    w = summary["GSAE SHIFT"]["worst_group_acc"]
    assert w["ci95"][0] < 0.7 < w["ci95"][1] and w["cells"] == {"sae0-seed0": 0.7}


def test_balanced_only_rows_have_no_worst_group():
    pool = _pool()
    pred = np.where(pool.balanced, pool.profession, False)
    stats = bootstrap([RowCells("scr@10", {(0, 0): pred}, balanced_only=True)], pool, [0], [0], 100)
    summary = summarize(stats)["scr@10"]
    assert summary["profession_acc"]["mean"] == pytest.approx(1.0)
    assert summary["worst_group_acc"]["mean"] is None
