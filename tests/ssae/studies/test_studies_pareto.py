"""Pareto fronts and the area under them, against hand-computed values."""

from __future__ import annotations

import math

import pytest

from ssae.errors import ToolkitError
from ssae.studies.pareto import Point, area_under, best_on_validation, mean_std, pareto_front


def test_front_keeps_only_points_nobody_beats_on_both_axes():
    pts = [Point(1, 5), Point(2, 6), Point(3, 4), Point(0.5, 7), Point(3, 4.5), Point(4, 4)]
    assert pareto_front(pts) == [Point(0.5, 7), Point(1, 5), Point(3, 4)]


def test_front_skips_non_finite_points():
    assert pareto_front([Point(1, math.nan), Point(2, 3), Point(math.inf, 1)]) == [Point(2, 3)]


def test_area_of_a_line_is_the_triangle():
    # the straight front from (0, 10) to (10, 0): area 50 over [0, 10], mean value 5
    a = area_under([Point(0, 10), Point(10, 0)], 0, 10)
    assert a["auc"] == pytest.approx(50.0) and a["mean"] == pytest.approx(5.0)
    assert a["covered"] == 1.0 and a["front"] == [[0.0, 10.0], [10.0, 0.0]]


def test_area_is_exact_at_kinks_and_constant_beyond_the_ends():
    # front (0, 10), (5, 9), (10, 0) over [5, 15]: 5 * (9 + 0) / 2 = 22.5 on [5, 10], then the
    # last value 0 held on [10, 15]; the points cover half of the range.
    a = area_under([Point(0, 10), Point(10, 0), Point(5, 9)], 5, 15)
    assert a["auc"] == pytest.approx(22.5) and a["covered"] == pytest.approx(0.5)
    # below the first point the first value is held: [-10, 0] at 10 plus the triangle
    b = area_under([Point(0, 10), Point(10, 0)], -10, 10)
    assert b["auc"] == pytest.approx(100 + 50) and b["covered"] == pytest.approx(0.5)


def test_dominated_points_do_not_change_the_area():
    base = [Point(0, 10), Point(10, 0)]
    # (6, 10.5) has more L0 and more perplexity than (0, 10): dominated
    assert area_under([*base, Point(6, 10.5)], 0, 10)["auc"] == pytest.approx(50.0)
    # a better point does: (5, 1) lowers the area to 5 * (10 + 1) / 2 + 5 * (1 + 0) / 2 = 30
    assert area_under([*base, Point(5, 1)], 0, 10)["auc"] == pytest.approx(30.0)


def test_empty_front_and_bad_range():
    assert area_under([], 0, 1)["auc"] is None
    with pytest.raises(ToolkitError, match="lo < hi"):
        area_under([Point(0, 1)], 2, 1)


def test_best_on_validation_picks_lowest_score_per_group():
    runs = [
        {"l1": 1, "seed": 0, "val": 3.0},
        {"l1": 1, "seed": 1, "val": 2.0},
        {"l1": 2, "seed": 0, "val": 5.0},
        {"l1": 2, "seed": 1, "val": 6.0},
    ]
    best = best_on_validation(runs, group=lambda r: r["l1"], score=lambda r: r["val"])
    assert [(r["l1"], r["seed"]) for r in best] == [(1, 1), (2, 0)]


def test_mean_std_uses_sample_std_and_skips_missing():
    assert mean_std([1.0, 3.0, None]) == {"mean": 2.0, "std": pytest.approx(math.sqrt(2)), "n": 2}
    assert mean_std([None]) == {"mean": None, "std": None, "n": 0}
    assert mean_std([4.0]) == {"mean": 4.0, "std": 0.0, "n": 1}
