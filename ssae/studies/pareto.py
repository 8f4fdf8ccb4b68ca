"""Sparsity against fidelity: Pareto fronts of spliced perplexity over L0 and the area under them
(SSAE paper, Sec. 3.1.2).

Each trained SAE is one point (L0, perplexity) on a test split: its mean number of active features
per token, and the model's perplexity with the studied submodule's output replaced by the SAE's
reconstruction (ssae.evaluate.spliced_metrics). Sweeping the sparsity coefficient traces a curve;
lower and further left is better.

- `pareto_front`: the points no other point beats on both axes, by increasing L0 (each has a lower
  perplexity than every point left of it).
- `area_under`: the area under the front's piecewise-linear interpolation over an L0 range
  [lo, hi] (the paper integrates L0 60..140), with the front held constant beyond its end points,
  so SAEs whose sweeps cover different L0 ranges stay comparable; `covered` reports the share of
  [lo, hi] the points actually span, `mean` the area / (hi - lo) (a mean perplexity, in the units
  of the values). Lower is better.
- `best_on_validation`: of several runs that differ only in training seed, the one with the
  lowest validation score, per value of the swept coefficient (the paper's selection rule).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ssae.errors import ToolkitError


@dataclass(frozen=True)
class Point:
    l0: float
    """Mean active features per token."""
    value: float
    """What is traded against sparsity, lower is better (spliced perplexity)."""


def pareto_front(points: Iterable[Point]) -> list[Point]:
    """Points not dominated by any other (lower L0 and lower value), by increasing L0."""
    front: list[Point] = []
    for p in sorted(points, key=lambda p: (p.l0, p.value)):
        if not np.isfinite(p.value) or not np.isfinite(p.l0):
            continue
        if not front or p.value < front[-1].value:
            front.append(p)
    return front


def area_under(points: Sequence[Point], lo: float, hi: float) -> dict:
    """Area under the Pareto front of `points` over L0 in [lo, hi] (see module docstring)."""
    if not hi > lo:
        raise ToolkitError(f"the L0 range of the area must have lo < hi, got {lo}..{hi}")
    front = pareto_front(points)
    if not front:
        return {"auc": None, "mean": None, "covered": 0.0, "front": []}
    xs = np.array([p.l0 for p in front])
    ys = np.array([p.value for p in front])
    # The interpolant is linear between the front's L0 values, so the trapezoid rule over those
    # nodes and the range ends is exact; np.interp holds the end values constant beyond them.
    nodes = np.unique(np.concatenate([[lo, hi], xs[(xs > lo) & (xs < hi)]]))
    area = float(np.trapezoid(np.interp(nodes, xs, ys), nodes))
    covered = float(max(0.0, min(hi, xs[-1]) - max(lo, xs[0])) / (hi - lo))
    return {
        "auc": area,
        "mean": area / (hi - lo),
        "covered": covered,
        "front": [[float(p.l0), float(p.value)] for p in front],
    }


def best_on_validation(
    runs: Sequence[dict], group: Callable[[dict], object], score: Callable[[dict], float]
) -> list[dict]:
    """Per group (e.g. the sparsity coefficient), the run with the lowest validation score."""
    best: dict[object, dict] = {}
    for run in runs:
        g = group(run)
        if g not in best or score(run) < score(best[g]):
            best[g] = run
    return list(best.values())


def mean_std(values: Sequence[float | None]) -> dict:
    """Mean and sample standard deviation (n - 1) of the values that exist."""
    vals = np.array([v for v in values if v is not None], dtype=float)
    if vals.size == 0:
        return {"mean": None, "std": None, "n": 0}
    std = float(vals.std(ddof=1)) if vals.size > 1 else 0.0
    return {"mean": float(vals.mean()), "std": std, "n": int(vals.size)}
