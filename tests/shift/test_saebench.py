"""SAEBench-style selection against its definition, computed one text at a time."""

from __future__ import annotations

import torch

from shift.saebench import mean_difference, scores
from ssae.activations import read_activations
from ssae.archs import AutoEncoder
from ssae.dictionary import IdentityDictionary


def _setup():
    from tests.conftest import make_gpt_neox

    lm = make_gpt_neox(hidden=16, layers=2, vocab=50, dtype=torch.float64)
    names = ["embed", "mlp_out_layer0", "resid_out_layer1"]
    torch.manual_seed(3)
    saes = {n: AutoEncoder(16, 24, init_scale=1.0).double() for n in names}
    saes["attn_out_layer1"] = IdentityDictionary(16, dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    lengths = [5, 3, 6, 2, 4, 6]
    texts = [torch.randint(1, 50, (n,), generator=g) for n in lengths]
    gender = torch.tensor([0, 1, 1, 0, 1, 0])
    return lm, saes, texts, gender


def _brute_delta(lm, saes, texts, gender):
    """Per text, unpadded: the mean over its tokens of every feature; then women minus men."""
    pooled = {n: [] for n in saes}
    for ids in texts:
        batch = {
            "input_ids": ids[None],
            "attention_mask": torch.ones(1, len(ids), dtype=torch.long),
        }
        acts = read_activations(lm, [lm.submodule(n) for n in saes], batch)
        for n, x in acts.items():
            pooled[n].append(saes[n].encode(x)[0].mean(0))
    out = {}
    for n, rows in pooled.items():
        a = torch.stack(rows)
        out[n] = a[gender == 1].mean(0) - a[gender == 0].mean(0)
    return out


def test_mean_difference_and_scores_match_the_definition():
    lm, saes, texts, gender = _setup()
    width = max(len(t) for t in texts)
    batches = []
    for rows in ([0, 1, 2], [3, 4, 5]):  # right-padded batches: padding must not count
        ids = torch.zeros(len(rows), width, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, r in enumerate(rows):
            ids[i, : len(texts[r])] = texts[r]
            mask[i, : len(texts[r])] = 1
        batches.append({"input_ids": ids, "attention_mask": mask, "labels": gender[rows]})
    delta = mean_difference(lm, saes, batches)
    ref = _brute_delta(lm, saes, texts, gender)
    for n in saes:
        torch.testing.assert_close(delta[n], ref[n].double(), rtol=1e-9, atol=1e-12)
        assert ref[n].abs().max() > 1e-6  # not vacuous
    w = torch.linspace(-1, 1, 16, dtype=torch.float64)
    got = scores(delta, saes, w)
    for n, sae in saes.items():
        by_hand = torch.tensor(
            [
                abs(float(delta[n][j]) * float(sae.decoder_directions[j].detach() @ w))
                for j in range(len(delta[n]))
            ],
            dtype=torch.float64,
        )
        torch.testing.assert_close(got[n], by_hand)
    # neurons: the decoder direction of neuron j is e_j, so the score is |delta_j w_j|
    torch.testing.assert_close(got["attn_out_layer1"], (delta["attn_out_layer1"] * w).abs())
