"""Concept bottleneck probing: concept vectors by brute force, bottleneck, debiasing, checkpoint."""

from __future__ import annotations

import torch

from probes.cbp import ConceptBottleneckProbe, concept_vectors, cosine_similarities, train_cbp
from probes.config import CBP_KEYWORDS, GENDER_KEYWORDS, CBPConfig, ProbeConfig


def test_concept_vectors_are_centred_last_token_states(small_lm):
    """Each keyword as it appears in running text (leading space), last token, centred."""
    words = ["nurse", "university", "she", "healthcare"]
    got = concept_vectors(small_lm, words, "resid_out_layer1")
    rows = []
    for w in words:
        ids = small_lm.tokenizer(" " + w, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            hs = small_lm.model(input_ids=torch.tensor([ids]), output_hidden_states=True)
        rows.append(hs.hidden_states[2][0, -1])  # output of layer 1, last token
    ref = torch.stack(rows)
    torch.testing.assert_close(got, ref - ref.mean(0), rtol=1e-4, atol=1e-5)
    # " nurse" is one Pythia token; "nurse" without its space is split into fragments
    assert len(small_lm.tokenizer(" nurse", add_special_tokens=False)["input_ids"]) == 1


def test_cosine_similarities():
    a = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    v = torch.tensor([[2.0, 0.0], [0.0, -3.0]])
    s = 2**-0.5
    torch.testing.assert_close(cosine_similarities(a, v), torch.tensor([[1.0, 0.0], [s, -s]]))


def planted_concepts(n=3000, d=16, seed=0):
    """Label follows concept 'nurse'; gender concept 'she' is correlated with it (ambiguous set)."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, 3, generator=g))
    concepts = 2 * q.T  # nurse, she, research: orthogonal
    y = torch.randint(0, 2, (n,), generator=g)
    signal = (2 * y - 1).float()
    x = torch.randn(n, d, generator=g) * 0.5
    x += signal[:, None] * concepts[0] + signal[:, None] * concepts[1]
    return x, y, concepts


def test_drops_gender_concepts_and_learns_from_the_rest(tmp_path):
    x, y, concepts = planted_concepts()
    cfg = CBPConfig(
        keywords=("nurse", "she", "research"),
        drop=("she",),
        standardize=True,
        probe=ProbeConfig(epochs=3),
    )
    cbp = train_cbp(x[:2000], y[:2000], concepts, cfg)
    assert cbp.names == ["nurse", "research"]
    torch.testing.assert_close(cbp.concepts, concepts[[0, 2]])
    acc = (cbp.predict(x[2000:]) == y[2000:]).float().mean()
    assert acc > 0.95
    w = cbp.weights()
    assert set(w) == {"nurse", "research"} and abs(w["nurse"]) > abs(w["research"])
    # features are the standardised cosine similarities to the kept concepts only
    sims = cosine_similarities(x[:2000], concepts[[0, 2]])
    torch.testing.assert_close(cbp.features(x[:2000]).mean(0), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(
        cbp.features(x[:5]),
        (cosine_similarities(x[:5], concepts[[0, 2]]) - sims.mean(0)) / sims.std(0),
    )
    cbp.save(tmp_path / "cbp.safetensors")
    back = ConceptBottleneckProbe.load(tmp_path / "cbp.safetensors")
    assert back.names == cbp.names
    torch.testing.assert_close(back.logits(x[:50]), cbp.logits(x[:50]))


PAPER_KEYWORDS = (
    "nurse healthcare hospital patient medical clinic triage medication emergency surgery "
    "professor academia research university tenure faculty dissertation sabbatical publication grant"
).split()


def test_default_config_is_the_papers_bottleneck():
    """SSAE paper App. G.2: its 20 profession keywords, all kept, raw cosine similarities."""
    cfg = CBPConfig()
    assert CBP_KEYWORDS == tuple(PAPER_KEYWORDS) and cfg.kept == tuple(PAPER_KEYWORDS)
    assert not set(cfg.kept) & set(GENDER_KEYWORDS) and not cfg.standardize
    x, y, concepts = planted_concepts(n=256)
    names = ("nurse", "she", "research")
    cbp = train_cbp(x, y, concepts, CBPConfig(keywords=names))
    assert cbp.names == list(names)
    torch.testing.assert_close(cbp.features(x[:7]), cosine_similarities(x[:7], concepts))
