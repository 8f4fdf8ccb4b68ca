"""Feature contexts of a whole SAE set: brute-force top activations, frequency, logit lens,
deduplicated snippets, the generic dictionary interface, storage, and circuit annotation."""

from __future__ import annotations

import pytest
import torch

from circuits.annotate import context_text
from circuits.config import ThresholdConfig
from circuits.edges import METRIC
from circuits.effects import NodeEffects
from circuits.feature_contexts import (
    FeatureContexts,
    FeatureContextsConfig,
    annotate_with_contexts,
    compute_feature_contexts,
)
from circuits.graph import build_graph
from ssae.activations import read_activations
from ssae.dictionary import Dictionary
from ssae.errors import ConfigError, DataError
from ssae.lens import lens_top_tokens
from ssae.tokens import TokenDataset
from tests.circuits.circuit_helpers import random_tokens

NAMES = ["embed", "mlp_out_layer0", "resid_out_layer1"]


class SquaredReLU(Dictionary):
    """A dictionary that only has the generic interface (no ReLU/L1 attributes): f = relu(Wx)^2."""

    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = torch.nn.Parameter(w)  # [n, d]
        self.activation_dim, self.dict_size = w.shape[1], w.shape[0]

    def encode(self, x):
        return torch.relu(x @ self.w.T) ** 2

    def decode(self, f):
        return f @ self.w

    @property
    def decoder_directions(self):
        return self.w / self.w.norm(dim=1, keepdim=True)


@pytest.fixture(scope="module")
def saes(tiny_saes, tiny_lm):
    g = torch.Generator().manual_seed(3)
    out = {n: tiny_saes[n] for n in NAMES[:2]}
    out["resid_out_layer1"] = SquaredReLU(
        torch.randn(20, tiny_lm.d_model, generator=g, dtype=torch.float64)
    )
    return out


@pytest.fixture(scope="module")
def contexts(tiny_lm, saes):
    cfg = FeatureContextsConfig(k=3, pool=5, k_tokens=4, before=2, after=1, batch_docs=4)
    return compute_feature_contexts(
        tiny_lm, saes, random_tokens(n=9, source="random test tokens"), cfg
    )


def _brute_force(lm, saes, ds):
    """Every real token's features, one document per forward pass: {name: [(f, row, pos)]}."""
    specs = [s for s in lm.submodules() if s.name in saes]
    out = {n: [] for n in saes}
    for row in range(len(ds)):
        n = int(ds.lengths[row])
        batch = {"input_ids": ds.input_ids[row : row + 1, :n].long()}
        acts = read_activations(lm, specs, batch)
        for name, x in acts.items():
            f = saes[name].encode(x)[0].detach()
            out[name] += [(f[p], row, p) for p in range(n)]
    return out


def test_top_activations_and_frequency_match_brute_force(tiny_lm, saes, contexts):
    ds = contexts.tokens
    brute = _brute_force(tiny_lm, saes, ds)
    for name, rows in brute.items():
        f = torch.stack([r[0] for r in rows])  # [tokens, n]
        assert contexts.values[name].shape == (f.shape[1], 5)
        expected = f.float().topk(5, dim=0).values.T
        torch.testing.assert_close(contexts.values[name], expected, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(
            contexts.frequency[name], (f > 0).double().mean(0).float(), rtol=0, atol=1e-6
        )
        # the stored index points at a token whose activation is the stored value
        where = {(r, p): a for a, r, p in rows}
        for j in range(f.shape[1]):
            for v, flat in zip(contexts.values[name][j], contexts.index[name][j], strict=True):
                row, pos = divmod(int(flat), ds.ctx_len)
                assert float(where[(row, pos)][j]) == pytest.approx(float(v), rel=1e-5)


def test_logit_lens_and_quality_are_recorded_per_dictionary(tiny_lm, saes, contexts):
    for name, sae in saes.items():
        assert torch.equal(contexts.lens[name], lens_top_tokens(tiny_lm, sae.decoder_directions, 4))
        quality = contexts.quality[name]
        # L0 = mean active features per token = sum over features of their firing frequency
        assert quality["l0"] == pytest.approx(float(contexts.frequency[name].sum()), rel=1e-5)
        assert quality["fvu"] > 0
    assert contexts.lens_tokens(tiny_lm.tokenizer, "embed", 0) == [
        f"t{t} " for t in contexts.lens["embed"][0].tolist()
    ]


def test_contexts_mark_the_token_and_drop_repeats(tiny_lm, contexts):
    name = "mlp_out_layer0"
    j = int(contexts.frequency[name].argmax())
    got = contexts.contexts(tiny_lm.tokenizer, name, j)
    assert 1 <= len(got) <= 3
    ds = contexts.tokens
    expected = []
    for v, flat in zip(contexts.values[name][j].tolist(), contexts.index[name][j].tolist()):
        row, pos = divmod(flat, ds.ctx_len)
        ids = ds.input_ids[row, : int(ds.lengths[row])].tolist()
        text = context_text(tiny_lm.tokenizer, ids, pos, 2, 1)
        if v > 0 and text not in [e["text"] for e in expected]:
            expected.append({"text": text, "activation": v})
    assert got == expected[:3]
    assert all("«" in c["text"] and "»" in c["text"] for c in got)
    acts = [c["activation"] for c in got]
    assert acts == sorted(acts, reverse=True)


def test_repeated_snippets_count_once(tiny_lm, saes):
    """Five identical documents: every feature's top five tokens give one distinct snippet per
    position, never the same text twice."""
    row = random_tokens(n=1, ctx=6).input_ids[0].clone()
    row[:] = torch.tensor([5, 6, 7, 8, 9, 10], dtype=torch.int32)
    ds = TokenDataset(row.repeat(5, 1), torch.full((5,), 6, dtype=torch.int32), pad_id=0)
    cfg = FeatureContextsConfig(k=4, pool=10, before=1, after=1)
    fc = compute_feature_contexts(tiny_lm, {"embed": saes["embed"]}, ds, cfg)
    for j in range(saes["embed"].dict_size):
        texts = [c["text"] for c in fc.contexts(tiny_lm.tokenizer, "embed", j)]
        assert len(texts) == len(set(texts))


def test_save_and_load_round_trip(contexts, tmp_path):
    contexts.save(tmp_path / "fc")
    back = FeatureContexts.load(tmp_path / "fc")
    assert back.names == contexts.names and back.config == contexts.config
    for name in contexts.names:
        for field in ("values", "index", "frequency", "lens"):
            assert torch.equal(
                getattr(back, field)[name],
                getattr(contexts, field)[name].to(getattr(back, field)[name].dtype),
            )
    assert back.quality == contexts.quality
    assert torch.equal(back.tokens.input_ids, contexts.tokens.input_ids)
    with pytest.raises(DataError, match="not a feature-contexts folder"):
        FeatureContexts.load(tmp_path / "missing")
    (tmp_path / "fc" / "contexts.safetensors").write_bytes(b"torn")
    with pytest.raises(DataError, match="corrupt"):
        FeatureContexts.load(tmp_path / "fc")


def test_config_is_validated():
    with pytest.raises(ConfigError, match="pool"):
        FeatureContextsConfig(k=10, pool=5)
    with pytest.raises(ConfigError):
        FeatureContextsConfig(k=0)


def test_annotate_with_contexts_fills_cards_without_a_model(tiny_lm, contexts):
    effects = NodeEffects(
        features={
            "mlp_out_layer0": torch.tensor([0.0, 0.5] + [0.0] * 22, dtype=torch.float64),
            "resid_out_layer1": torch.tensor([0.0] * 19 + [-0.4], dtype=torch.float64),
        },
        errors={
            "mlp_out_layer0": torch.tensor(0.3, dtype=torch.float64),
            "resid_out_layer1": torch.tensor(0.0, dtype=torch.float64),
        },
        aggregation="sum",
        n_examples=2,
    )
    graph = build_graph(effects, {}, ThresholdConfig(node_threshold=0.1))
    labels = {"resid_out_layer1/19": "a human label"}
    annotate_with_contexts(graph, contexts, tiny_lm.tokenizer, labels=labels)
    node = graph.nodes["mlp_out_layer0/1"]
    assert node["contexts"] == contexts.contexts(tiny_lm.tokenizer, "mlp_out_layer0", 1)
    assert node["frequency"] == pytest.approx(float(contexts.frequency["mlp_out_layer0"][1]))
    assert node["top_tokens"] == contexts.lens_tokens(tiny_lm.tokenizer, "mlp_out_layer0", 1)
    assert node["label"] == " · ".join(t.strip() for t in node["top_tokens"][:4])
    assert graph.nodes["resid_out_layer1/19"]["label"] == "a human label"
    error = graph.nodes["mlp_out_layer0/error"]
    assert error["fvu"] == pytest.approx(contexts.quality["mlp_out_layer0"]["fvu"])
    assert "contexts" not in graph.nodes[METRIC]
    assert graph.graph["contexts_source"]["dataset"] == "random test tokens"
