"""Edge weights against finite differences of their definition (Marks et al. eq. 5)."""

from __future__ import annotations

import pytest
import torch

from circuits.config import Baseline, EffectConfig
from circuits.edges import METRIC, edge_effects, node_id
from circuits.effects import node_effects
from circuits.metrics import Metric, logit_diff
from circuits.runner import run_metric
from circuits.states import encode_states, patch_states
from tests.circuits.circuit_helpers import make_batch

EPS = 1e-5


@pytest.fixture(scope="module")
def setup(tiny_lm, tiny_saes):
    batch = make_batch(b=3, t=6, seed=3)
    metric = logit_diff()
    cfg = EffectConfig(method="ig", steps=4, baseline=Baseline("patch"))
    effects, grads = node_effects(
        tiny_lm, tiny_saes, [batch], metric, cfg, keep_grads=True, progress=False
    )
    edges = edge_effects(
        tiny_lm,
        tiny_saes,
        [batch],
        metric,
        effects,
        cfg,
        node_threshold=0.0,
        batch_grads=grads,
        progress=False,
    )
    specs = tiny_lm.submodules(layers=[0, 1])
    clean, _ = encode_states(tiny_lm, tiny_saes, specs, batch)
    patch, _ = patch_states(tiny_lm, tiny_saes, specs, batch, cfg.baseline, clean)
    return dict(
        batch=batch,
        metric=metric,
        cfg=cfg,
        effects=effects,
        grads=grads[0].grads,
        edges=edges,
        clean=clean,
        patch=patch,
    )


def _finite_difference(lm, saes, s, up, j, down, k, hold=()):
    """d/de of S_down,k with node (up, j) moved by e (u_p - u_c), other paths held clean."""
    batch, clean, patch, grads = s["batch"], s["clean"], s["patch"], s["grads"]
    mask = batch["attention_mask"].double()
    if j == "error":
        delta = patch[up].err - clean[up].err
    else:
        delta = (patch[up].f - clean[up].f)[..., j : j + 1] * saes[up].decoder_directions[j]
    sae_d, g = saes[down], grads[down]

    def score(x, b):
        f, err = sae_d.features_and_error(x)
        if k == "error":
            per_token = (g * err).sum(-1)
        else:
            per_token = (g @ sae_d.decoder_directions[k]) * f[..., k]
        return (per_token * mask).sum(1)

    metric = Metric(fn=score, reads=down)

    def run(eps):
        edits = {up: lambda x: x + eps * delta * mask[..., None]}
        for name in hold:
            edits[name] = lambda x, name=name: clean[name].x
        with torch.no_grad():
            return float(run_metric(lm, batch, metric, edits).sum())

    return (run(EPS) - run(-EPS)) / (2 * EPS) / batch["input_ids"].shape[0]


def _strongest(effects, name, n=2):
    feats = effects.features[name].abs().argsort(descending=True)[:n].tolist()
    return [*feats, "error"]


@pytest.mark.parametrize(
    "up,down,hold",
    [
        ("attn_out_layer1", "resid_out_layer1", ()),
        ("resid_out_layer0", "attn_out_layer1", ()),
        ("resid_out_layer0", "mlp_out_layer1", ()),
        ("resid_out_layer0", "resid_out_layer1", ("attn_out_layer1", "mlp_out_layer1")),
        ("embed", "resid_out_layer0", ("attn_out_layer0", "mlp_out_layer0")),
    ],
)
def test_edges_match_finite_differences(tiny_lm, tiny_saes, setup, up, down, hold):
    checked = 0
    for j in _strongest(setup["effects"], up):
        for k in _strongest(setup["effects"], down):
            w = setup["edges"].get((node_id(up, j), node_id(down, k)), 0.0)
            fd = _finite_difference(tiny_lm, tiny_saes, setup, up, j, down, k, hold)
            assert w == pytest.approx(fd, rel=1e-4, abs=1e-8), (j, k)
            checked += abs(fd) > 1e-6
    assert checked >= 3  # not all zero


def test_edges_only_along_direct_paths(setup):
    pairs = {(u.split("/")[0], d.split("/")[0]) for u, d in setup["edges"] if d != METRIC}
    allowed = {
        ("embed", "attn_out_layer0"),
        ("embed", "mlp_out_layer0"),
        ("embed", "resid_out_layer0"),
        ("attn_out_layer0", "resid_out_layer0"),
        ("mlp_out_layer0", "resid_out_layer0"),
        ("resid_out_layer0", "attn_out_layer1"),
        ("resid_out_layer0", "mlp_out_layer1"),
        ("resid_out_layer0", "resid_out_layer1"),
        ("attn_out_layer1", "resid_out_layer1"),
        ("mlp_out_layer1", "resid_out_layer1"),
    }
    assert pairs == allowed  # parallel residual: attn_i does not feed mlp_i


def test_edges_into_the_metric_from_the_last_submodule_are_node_effects(setup):
    eff = setup["effects"]
    metric_edges = {u: w for (u, d), w in setup["edges"].items() if d == METRIC}
    assert {u.split("/")[0] for u in metric_edges} == {"resid_out_layer1"}
    for j in range(eff.features["resid_out_layer1"].shape[0]):
        nid = node_id("resid_out_layer1", j)
        if nid in metric_edges:
            assert metric_edges[nid] == pytest.approx(float(eff.features["resid_out_layer1"][j]))


def test_direct_edges_into_the_metric(tiny_lm, tiny_saes):
    # without resid SAEs, attn_out_layer1 reaches the logits only through the residual stream
    # (mlp_out_layer1 runs in parallel), so its direct edge equals its attribution effect
    names = ["attn_out_layer0", "mlp_out_layer0", "attn_out_layer1", "mlp_out_layer1"]
    saes = {n: tiny_saes[n] for n in names}
    batch = make_batch(seed=4)
    metric = logit_diff()
    cfg = EffectConfig(method="attrib")
    eff, grads = node_effects(tiny_lm, saes, [batch], metric, cfg, keep_grads=True, progress=False)
    edges = edge_effects(tiny_lm, saes, [batch], metric, eff, cfg, 0.0, grads, progress=False)
    for j, v in enumerate(eff.features["attn_out_layer1"].tolist()):
        if abs(v) > 0:
            assert edges[(node_id("attn_out_layer1", j), METRIC)] == pytest.approx(v, rel=1e-6)
    assert any(u.startswith("mlp_out_layer0") for (u, d) in edges if d == METRIC)


def test_per_position_edges_respect_causality(tiny_lm, tiny_saes):
    batch = make_batch(b=2, t=4, pad_first=0, seed=5)
    saes = {n: tiny_saes[n] for n in ("resid_out_layer0", "attn_out_layer1", "resid_out_layer1")}
    metric = logit_diff()
    cfg = EffectConfig(method="attrib", aggregation="none")
    eff, grads = node_effects(tiny_lm, saes, [batch], metric, cfg, keep_grads=True, progress=False)
    assert eff.features["resid_out_layer0"].shape == (4, 24)
    edges = edge_effects(tiny_lm, saes, [batch], metric, eff, cfg, 0.0, grads, progress=False)
    assert edges
    for (u, d), w in edges.items():
        if d == METRIC or w == 0:
            continue
        pu, pd = int(u.split("@")[1]), int(d.split("@")[1])
        assert pu <= pd, (u, d)
