"""Intervals for a bench: a hierarchical bootstrap over GSAE training seeds, run seeds and test
examples, with every difference between rows paired.

A bench cell is one SHIFT run: (method, architecture, SAE seed a, run seed s). Each of its rows
(e.g. "GSAE SHIFT", "GSAE SHIFT + retrain", the reference rows) keeps its hard predictions on
the whole test pool (`probes.metrics.pack_bits`), so every metric can be recomputed on any
resample of the test examples. One bootstrap replicate b draws, the same for every row:

1. SAE seeds: N positions drawn with replacement from the N SAE seeds;
2. run seeds: for each drawn SAE seed, M positions drawn with replacement from the M run seeds;
3. test examples: within each profession x gender group, its members drawn with replacement
   (for worst-group accuracy, over the whole group) and its balanced-set members drawn with
   replacement (for profession and gender accuracy on the balanced set), group sizes fixed.

A row's value in replicate b is the mean over the drawn (a, s) cells of its metric on the
replicate's test sample; its interval is the 2.5-97.5 percentile of those values. A row that
does not depend on the SAE seed (Original, CBP, Oracle, gendered-word deletion) has one SAE
level: its draws use SAE seed 0 at every position. A difference between two rows, and the SCR
score (A_row - A_original) / (A_oracle - A_original), is computed inside each replicate, so it is
paired: the same seeds and the same test examples on both sides. This is the nested (two-stage
plus observation-level) bootstrap of Davison & Hinkley (1997, Sec. 3.8); with 3 seeds per level
it understates between-seed variance (a percentile bootstrap of 3 values), which the per-seed
values beside every interval let a reader judge.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from probes.metrics import unpack_bits

METRICS = ("profession_acc", "gender_acc", "worst_group_acc")
ORIGINAL, ORACLE = "Original", "Oracle"


@dataclass(frozen=True)
class PoolLabels:
    """Labels of the test pool the predictions are over."""

    profession: np.ndarray
    """bool [n]: profession label."""
    gender: np.ndarray
    """bool [n]: gender label."""
    balanced: np.ndarray
    """bool [n]: member of the balanced set."""

    @classmethod
    def from_record(cls, record: dict) -> PoolLabels:
        """From a results.json `test_pool` (packed bits)."""
        n = record["n"]
        bits = {k: unpack_bits(record[k], n).numpy() for k in ("profession", "gender", "balanced")}
        return cls(bits["profession"], bits["gender"], bits["balanced"])

    @property
    def n(self) -> int:
        return len(self.profession)

    def groups(self) -> list[np.ndarray]:
        """Index arrays of the four profession x gender groups (whole groups)."""
        return [
            np.flatnonzero((self.profession == p) & (self.gender == g))
            for p in (False, True)
            for g in (False, True)
        ]


@dataclass
class RowCells:
    """One table row's predictions in each of its cells."""

    label: str
    cells: dict[tuple[int, int], np.ndarray]
    """(SAE seed, run seed) -> bool predictions [n]."""
    balanced_only: bool = False
    """Predictions exist on the balanced set only (no worst group)."""


def _draws(rng: np.random.Generator, n_reps: int, n_sae: int, n_run: int):
    """Seed positions of every replicate: SAE-seed draws [B, N] and run-seed draws [B, N, M]."""
    return rng.integers(0, n_sae, (n_reps, n_sae)), rng.integers(0, n_run, (n_reps, n_sae, n_run))


def _test_weights(pool: PoolLabels, rng: np.random.Generator, n_reps: int):
    """Bootstrap counts per example: whole-group draws [4][B, |G|] and balanced draws [B, n]."""
    group_w, bal_w = [], np.zeros((n_reps, pool.n), dtype=np.float32)
    for idx in pool.groups():
        group_w.append(_counts(rng, n_reps, len(idx)))
        members = idx[pool.balanced[idx]]
        bal_w[:, members] = _counts(rng, n_reps, len(members))
    return group_w, bal_w


def _counts(rng: np.random.Generator, n_reps: int, size: int) -> np.ndarray:
    if size == 0:
        return np.zeros((n_reps, 0), dtype=np.float32)
    return rng.multinomial(size, np.full(size, 1.0 / size), size=n_reps).astype(np.float32)


def _cell_metrics(pred: np.ndarray, pool: PoolLabels, group_w, bal_w, balanced_only: bool):
    """[B, 3] metrics of one cell's predictions under each replicate's test weights."""
    correct = (pred == pool.profession).astype(np.float32)
    agrees = (pred == pool.gender).astype(np.float32)
    n_bal = bal_w.sum(1)
    prof = bal_w @ correct / n_bal
    gender = bal_w @ agrees / n_bal
    if balanced_only:
        worst = np.full_like(prof, np.nan)
    else:
        per_group = [w @ correct[idx] / max(len(idx), 1) for w, idx in zip(group_w, pool.groups())]
        worst = np.min(np.stack(per_group), axis=0)
    return np.stack([prof, gender, worst], axis=1)


def bootstrap(
    rows: Sequence[RowCells],
    pool: PoolLabels,
    sae_seeds: Sequence[int],
    run_seeds: Sequence[int],
    n_reps: int = 2000,
    seed: int = 0,
) -> dict[str, dict]:
    """Per row: the point estimate (mean over its cells on the whole test set), per-cell values,
    and its bootstrap replicates [B, 3] (see the module docstring)."""
    rng = np.random.default_rng(seed)
    a_draw, s_draw = _draws(rng, n_reps, len(sae_seeds), len(run_seeds))
    group_w, bal_w = _test_weights(pool, rng, n_reps)
    ones_group = [np.ones((1, len(idx)), np.float32) for idx in pool.groups()]
    ones_bal = pool.balanced.astype(np.float32)[None]
    out = {}
    for row in rows:
        point = {
            c: _cell_metrics(p, pool, ones_group, ones_bal, row.balanced_only)[0]
            for c, p in row.cells.items()
        }
        reps = {
            c: _cell_metrics(p, pool, group_w, bal_w, row.balanced_only)
            for c, p in row.cells.items()
        }
        # A row's own seeds: one SAE level for rows that do not depend on it; a bench still
        # running may lack some cells, which then drop out of the replicate's mean.
        own_a = sorted({a for a, _ in row.cells})
        own_s = sorted({s for _, s in row.cells})
        values = np.zeros((n_reps, 3))
        for b in range(n_reps):
            acc, used = np.zeros(3), 0
            for pos, a_pos in enumerate(a_draw[b]):
                a = own_a[a_pos % len(own_a)]
                for s_pos in s_draw[b, pos]:
                    cell = reps.get((a, own_s[s_pos % len(own_s)]))
                    if cell is not None:
                        acc, used = acc + cell[b], used + 1
            values[b] = acc / max(used, 1)
        cells = np.stack(list(point.values()))
        out[row.label] = {
            "mean": cells.mean(0),
            "std": cells.std(0, ddof=1) if len(cells) > 1 else np.zeros(3),
            "cells": {f"sae{a}-seed{s}": v for (a, s), v in point.items()},
            "replicates": values,
        }
    return out


def interval(replicates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2.5 and 97.5 percentiles over replicates (axis 0), ignoring NaN columns."""
    with warnings.catch_warnings():  # an all-NaN column (no worst group) stays NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanpercentile(replicates, 2.5, axis=0), np.nanpercentile(replicates, 97.5, axis=0)


def summarize(stats: dict[str, dict]) -> dict[str, dict]:
    """JSON-ready summary per row: mean, std over cells, 95% interval, per-cell values, SCR."""
    out = {}
    have_refs = ORIGINAL in stats and ORACLE in stats
    for label, s in stats.items():
        lo, hi = interval(s["replicates"])
        row = {
            m: {
                "mean": _num(s["mean"][i]),
                "std": _num(s["std"][i]),
                "ci95": [_num(lo[i]), _num(hi[i])],
                "cells": {c: _num(v[i]) for c, v in s["cells"].items()},
            }
            for i, m in enumerate(METRICS)
        }
        row["n_cells"] = len(s["cells"])
        if have_refs:
            row["scr"] = {
                m: _scr(stats, label, METRICS.index(m))
                for m in ("worst_group_acc", "profession_acc")
            }
        out[label] = row
    return out


def _scr(stats, label: str, i: int) -> dict:
    """SCR = (A_row - A_original) / (A_oracle - A_original), point and 95% interval, paired."""
    a, o, q = (stats[k] for k in (label, ORIGINAL, ORACLE))

    def ratio(x, y, z):
        with np.errstate(all="ignore"):
            return (x - y) / (z - y)

    reps = ratio(a["replicates"][:, i], o["replicates"][:, i], q["replicates"][:, i])
    lo, hi = interval(reps[:, None])
    return {
        "point": _num(ratio(a["mean"][i], o["mean"][i], q["mean"][i])),
        "ci95": [_num(lo[0]), _num(hi[0])],
    }


def paired_difference(stats: dict[str, dict], a: str, b: str) -> dict:
    """Row a minus row b, per metric: point, 95% interval and the share of replicates > 0."""
    out = {}
    for i, m in enumerate(METRICS):
        diff = stats[a]["replicates"][:, i] - stats[b]["replicates"][:, i]
        if np.isnan(diff).all():
            continue
        lo, hi = interval(diff[:, None])
        out[m] = {
            "point": _num(stats[a]["mean"][i] - stats[b]["mean"][i]),
            "ci95": [_num(lo[0]), _num(hi[0])],
            "p_positive": _num(float(np.nanmean(diff > 0))),
        }
    return out


def _num(x) -> float | None:
    x = float(x)
    return None if np.isnan(x) else round(x, 6)


def predictions(packed: str, n: int) -> np.ndarray:
    """Bool predictions [n] from a row's packed field."""
    return unpack_bits(packed, n).numpy()
