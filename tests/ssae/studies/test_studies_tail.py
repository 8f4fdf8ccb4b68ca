"""Tail-concept measurements on hand-checkable numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ssae.studies import tail
from ssae.studies.data import Concept
from ssae.studies.stats import DictStats


def test_buckets_group_tokens_by_powers_of_two():
    # token: count  -> 1: 1, 2: 2, 3: 3, 4: 4, 5: 9 ; token 0 unused
    counts = tail.token_counts(torch.tensor([1, 2, 2, 3, 3, 3, 4, 4, 4, 4] + [5] * 9), 7)
    assert counts.tolist() == [0, 1, 2, 3, 4, 9, 0]
    buckets = tail.frequency_buckets(counts)
    assert [(b["lo"], b["hi"], b["tokens"].tolist()) for b in buckets] == [
        (1, 2, [1]),
        (2, 4, [2, 3]),
        (4, 8, [4]),
        (8, 16, [5]),
    ]


def test_coverage_is_the_share_of_each_bucket_among_lens_tokens():
    counts = np.array([0, 1, 2, 3, 4, 9, 0])
    buckets = tail.frequency_buckets(counts)
    lens = torch.tensor([[3, 6], [5, 3]])  # two features, top-2 tokens each; 6 is unused
    covered = tail.covered_tokens(lens)
    assert covered.tolist() == [3, 5, 6]
    shares = [c["share"] for c in tail.lens_coverage(covered, buckets)]
    assert shares == [0.0, 0.5, 0.0, 1.0]


def test_cumulative_coverage_ranks_by_frequency_and_ends_at_one():
    counts = np.array([0, 1, 2, 3, 4, 9, 0])
    # ranks: 5 (9), 4 (4), 3 (3), 2 (2), 1 (1); covered {3, 5} -> hits 1,0,1,0,0 of 2
    curve = tail.cumulative_coverage(np.array([3, 5, 6]), counts)
    assert curve.tolist() == [0.5, 0.5, 1.0, 1.0, 1.0]
    assert tail.cumulative_coverage(np.array([6]), counts).tolist() == [0.0] * 5


def test_log_ratio_and_rank_order():
    m, b = torch.tensor([0, 3, 7]), torch.tensor([1, 3, 0])
    assert tail.log_ratios(m, b).tolist() == pytest.approx([-1.0, 0.0, 3.0])
    assert tail.counts_by_rank(torch.tensor([2, 9, 5])).tolist() == [9, 5, 2]
    with pytest.raises(ValueError, match="same features"):
        tail.log_ratios(torch.zeros(3), torch.zeros(4))


def test_concept_recall_is_the_best_feature_f1():
    # 3 features on 10 tokens; concept "c" occupies 4 tokens.
    # feature 0 fires on 8 tokens, 4 of them the concept's: F1 = 8 / (8 + 4) = 0.667
    # feature 1 fires on 3 tokens, all the concept's:     F1 = 6 / (3 + 4) = 0.857
    # feature 2 never fires:                              F1 = 0
    stats = DictStats(
        counts=torch.tensor([8, 3, 0]),
        sq_error=torch.zeros(10),
        x_norm_sq=torch.ones(10),
        l0=torch.zeros(10),
        max_act=torch.zeros(10),
        entropy=torch.zeros(10),
        concept_hits={"c": torch.tensor([4, 3, 0]), "d": torch.tensor([0, 0, 0])},
    )
    out = tail.concept_recall(stats, {"c": 4, "d": 2, "e": 0} | {}, threshold=0.8)
    assert out["c"]["feature"] == 1 and out["c"]["best_f1"] == pytest.approx(6 / 7)
    assert out["c"]["precision"] == 1.0 and out["c"]["recall"] == 0.75 and out["c"]["recalled"]
    assert out["d"]["best_f1"] == 0.0 and not out["d"]["recalled"]


def test_lens_recall_needs_a_single_token_form(tiny_lm):
    # the word-level test tokenizer knows "w7" as one token (id 7) but not "zzz"
    one, unknown = Concept("seven", ("w7",)), Concept("zzz", ("zzz qqq",))
    assert tail.concept_single_tokens(tiny_lm.tokenizer, one) == {7}
    got = tail.concept_lens_recall(np.array([7, 9]), tiny_lm.tokenizer, [one, unknown])
    assert got == {"seven": True, "zzz": None}
    assert tail.concept_lens_recall(np.array([9]), tiny_lm.tokenizer, [one]) == {"seven": False}
