"""The factorised TracIn score against explicit per-document autograd gradients."""

from __future__ import annotations

import numpy as np
import torch

from ssae.archs import AutoEncoder
from ssae.retrieval import tracin


def random_ae(d=12, n=40, seed=0) -> AutoEncoder:
    torch.manual_seed(seed)
    ae = AutoEncoder(d, n).double()
    with torch.no_grad():
        ae.encoder.bias.normal_(0, 0.3)  # a mix of active and inactive features
        ae.bias.normal_(0, 0.3)
    return ae


def test_factored_score_equals_explicit_gradient_dot_product():
    ae = random_ae()
    l1 = 0.07
    gen = torch.Generator().manual_seed(1)
    seeds = torch.randn(30, 12, generator=gen, dtype=torch.float64)
    G = tracin.loss_gradient(ae, seeds, l1)
    lengths = [1, 5, 9, 3, 14]
    docs = [torch.randn(n, 12, generator=gen, dtype=torch.float64) for n in lengths]
    x = torch.cat(docs)
    doc_index = torch.repeat_interleave(torch.arange(len(docs)), torch.tensor(lengths))
    fact = tracin.factored_scores(ae, G, x, doc_index, len(docs), l1)
    explicit = tracin.explicit_scores(ae, G, docs, l1)
    torch.testing.assert_close(fact, explicit, rtol=1e-10, atol=1e-10)
    assert (fact.abs() > 1e-6).all()


def test_loss_gradient_matches_closed_form():
    """dL/dW_dec = sum 2 r f^T and dL/db_enc = sum delta, as the module docstring states."""
    ae = random_ae(seed=3)
    l1 = 0.2
    x = torch.randn(8, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    g = tracin.loss_gradient(ae, x, l1)
    with torch.no_grad():
        p = (x - ae.bias) @ ae.encoder.weight.T + ae.encoder.bias
        f = p.relu()
        r = f @ ae.decoder.weight.T + ae.bias - x
        delta = (2 * r @ ae.decoder.weight + l1) * (p > 0)
    torch.testing.assert_close(g.W_dec, 2 * r.T @ f)
    torch.testing.assert_close(g.b_enc, delta.sum(0))
    torch.testing.assert_close(g.W_enc, delta.T @ (x - ae.bias))
    torch.testing.assert_close(g.b_dec, (2 * r - delta @ ae.encoder.weight).sum(0))


def test_tracin_scores_through_the_model(neox_dir):
    """Model activations (padded batches, nnsight) -> same scores as per-document autograd."""
    from ssae.models import load_model

    lm = load_model(neox_dir)
    spec = lm.submodule("resid_out_layer1")
    ae = random_ae(d=32, n=64, seed=5).float()
    texts = [
        "She is a nurse in Boston.",
        "Quantum field theory",
        "x",
        "He has taught law for 20 years.",
    ]
    toks = [np.asarray(lm.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
    G = tracin.seed_gradient(lm, spec, ae, toks[:2], lm.tokenizer.pad_token_id, 0.1)
    got = tracin.tracin_scores(lm, spec, ae, G, toks, lm.tokenizer.pad_token_id, 0.1, batch_docs=3)
    docs, box = [], {}
    h = spec.module(lm.model).register_forward_hook(lambda m, i, o: box.update(x=o))
    for t in toks:  # one unpadded forward per document, read with a plain hook
        with torch.no_grad():
            lm.model(input_ids=torch.as_tensor(t)[None])
        docs.append(box["x"][0])
    h.remove()
    explicit = tracin.explicit_scores(ae, G, docs, 0.1).numpy()
    np.testing.assert_allclose(got, explicit, rtol=1e-4, atol=1e-6)
    g_seeds = tracin.loss_gradient(ae, torch.cat(docs[:2]), 0.1)
    torch.testing.assert_close(G.flat(), g_seeds.flat(), rtol=1e-4, atol=1e-6)
