"""TERM-study measurements of a dictionary against textbook definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ssae.studies import objective
from ssae.studies.stats import DictStats


def test_decoder_cosines_match_the_pairwise_definition():
    w = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0], [-1.0, 0.0]])
    best, hist = objective.decoder_cosines(w, bins=4, block=3)  # blocks cross a row boundary
    r = 1 / math.sqrt(2)
    # 0 and 3 are antiparallel (|cos| 1); 1 is 45 degrees from 0, 2 and 3
    assert best.tolist() == pytest.approx([1.0, r, r, 1.0])
    # pairs: (0,1) r, (0,2) 0, (0,3) -1, (1,2) r, (1,3) -r, (2,3) 0 -> bins of width 0.5
    assert hist["counts"] == [2, 0, 2, 2] and sum(hist["counts"]) == 6


def test_pca_components_count_variance_share():
    assert objective.pca_components(torch.eye(4), 0.9) == 3  # centred: 3 equal directions
    # variance along x is 100x that along y: one component holds > 90%
    w = torch.tensor([[10.0, 0.0], [-10.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    assert objective.pca_components(w, 0.9) == 1
    assert objective.pca_components(w, 0.999) == 2


def test_error_by_rank_averages_within_log_rank_bins():
    counts = np.array([0, 5, 3, 1, 1])  # ranks: token 1 -> 1, 2 -> 2, 3 -> 3, 4 -> 4
    ids = torch.tensor([1, 1, 2, 3, 4])
    err = torch.tensor([1.0, 3.0, 5.0, 7.0, 9.0])
    bins = objective.error_by_rank(ids, err, counts, n_bins=2)
    # edges geomspace(1, 5, 3) = 1, 2.24, 5 -> [1, 2) and [2, 5)
    assert [(b["rank_lo"], b["rank_hi"]) for b in bins] == [(1, 2), (2, 5)]
    assert [b["mean_error"] for b in bins] == [2.0, 7.0]
    assert [b["n_tokens"] for b in bins] == [2, 3]


def test_summary_numbers():
    st = DictStats(
        counts=torch.tensor([3, 0, 1]),
        sq_error=torch.tensor([1.0, 2.0, 6.0]),
        x_norm_sq=torch.tensor([2.0, 4.0, 6.0]),
        l0=torch.tensor([1.0, 2.0, 0.0]),
        max_act=torch.tensor([0.5, 1.5, 0.0]),
        entropy=torch.tensor([0.0, math.log(2), 0.0]),
    )
    s = objective.summary(st)
    assert s["mean_error"] == pytest.approx(3.0) and s["max_error"] == 6.0
    assert s["mean_relative_error"] == pytest.approx((0.5 + 0.5 + 1.0) / 3)
    assert s["l0"] == 1.0 and s["alive_features"] == 2
    assert s["mean_entropy"] == pytest.approx(math.log(2) / 3)
