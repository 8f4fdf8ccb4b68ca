"""Per-token and per-feature statistics against a direct computation, and their file form."""

from __future__ import annotations

import pytest
import torch

from ssae.activations import read_activations
from ssae.sae_set import SAESet
from ssae.studies.stats import TokenStats, collect_stats

pytestmark = pytest.mark.usefixtures("one_thread")
SITE = "resid_out_layer0"


@pytest.fixture(scope="module")
def dicts(tiny_lm):
    a, b = SAESet.new(tiny_lm, 24, seed=3), SAESet.new(tiny_lm, 16, seed=4)
    with torch.no_grad():
        a[SITE].encoder.bias.uniform_(-0.5, 0.2)
    return {"a": a[SITE], "b": b[SITE]}


def test_stats_match_direct_computation(tiny_lm, dicts, make_tokens):
    tokens = make_tokens(7, 10, seed=11)
    mask = (tokens.input_ids == 5) | (tokens.input_ids == 6)  # "concept": tokens 5 and 6
    mask &= tokens.attention_mask().bool()
    stats = collect_stats(tiny_lm, SITE, dicts, tokens, {"c": mask}, batch_docs=3)
    keep = tokens.attention_mask().bool()
    batch = {"input_ids": tokens.input_ids.long(), "attention_mask": tokens.attention_mask()}
    x = read_activations(tiny_lm, [tiny_lm.submodule(SITE)], batch)[SITE][keep]
    assert stats.token_ids.tolist() == tokens.input_ids[keep].tolist()
    assert stats.concept_sizes == {"c": int(mask.sum())}
    for label, d in dicts.items():
        with torch.no_grad():
            f = d.encode(x)
            err = ((x - d.decode(f)) ** 2).sum(-1)
        s = stats.per_dict[label]
        assert torch.allclose(s.sq_error, err, rtol=1e-5)
        assert s.counts.tolist() == (f > 0).sum(0).tolist()
        assert s.l0.tolist() == (f > 0).sum(-1).float().tolist()
        assert torch.allclose(s.max_act, f.amax(-1))
        for i in range(x.shape[0]):  # entropy token by token, from its definition
            p = f[i][f[i] > 0] / f[i].sum()
            assert float(s.entropy[i]) == pytest.approx(float(-(p * p.log()).sum()), abs=1e-5)
        on_concept = mask[keep]
        assert s.concept_hits["c"].tolist() == (f[on_concept] > 0).sum(0).tolist()


def test_stats_round_trip_and_reject_mismatched_masks(tiny_lm, dicts, make_tokens, tmp_path):
    from ssae.errors import DataError

    tokens = make_tokens(4, 8, seed=2)
    mask = torch.zeros_like(tokens.input_ids, dtype=torch.bool)
    stats = collect_stats(tiny_lm, SITE, dicts, tokens, {"two words": mask})
    stats.save(tmp_path / "s")
    back = TokenStats.load(tmp_path / "s")
    assert list(back.per_dict) == ["a", "b"] and back.concept_sizes == {"two words": 0}
    assert torch.equal(back.per_dict["b"].counts, stats.per_dict["b"].counts)
    assert torch.equal(back.per_dict["a"].entropy, stats.per_dict["a"].entropy)
    with pytest.raises(DataError, match="does not match the token dataset"):
        collect_stats(tiny_lm, SITE, dicts, tokens, {"c": mask[:, :3]})
