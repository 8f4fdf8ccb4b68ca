"""The logit lens of decoder directions, against the model's own final norm and unembedding."""

from __future__ import annotations

import torch

from ssae.lens import lens_top_tokens


def test_top_tokens_are_the_unembedded_normed_directions(tiny_lm):
    torch.manual_seed(0)
    dirs = torch.randn(7, tiny_lm.d_model)
    got = lens_top_tokens(tiny_lm, dirs, k=5, batch=3)  # slices of 3, 3 and 1 directions
    model = tiny_lm.model
    with torch.no_grad():
        logits = model.get_output_embeddings()(model.gpt_neox.final_layer_norm(dirs))
    assert got.shape == (7, 5)
    assert torch.equal(got, logits.topk(5, dim=-1).indices)
    assert lens_top_tokens(tiny_lm, dirs[:0], k=5).shape == (0, 5)
