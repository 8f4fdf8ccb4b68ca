"""SHIFT's ablation against a from-scratch forward-hook implementation."""

from __future__ import annotations

import pytest
import torch

from shift.ablation import AblationEvaluator, ablate, parse_feature_ids
from shift.skyline import feature_set, rank_features
from ssae.archs import AutoEncoder
from ssae.dictionary import IdentityDictionary
from ssae.errors import ToolkitError
from tests.conftest import make_gpt_neox, pythia_tokenizer

TEXTS = [
    "She has been a nurse at the county hospital for ten years.",
    "He is a professor",
    "Dr. Smith teaches physics and runs a research lab at the university, where he studies quarks.",
    "nurse",
    "Her patients love her.",
]


@pytest.fixture(scope="module")
def setup(pythia_tokenizer_path):
    lm = make_gpt_neox(pythia_tokenizer(pythia_tokenizer_path), layers=6)
    saes = {s.name: AutoEncoder(32, 48) for s in lm.submodules(layers=range(5))}
    return lm, saes


def _reference(lm, saes, features, texts, probe="resid_out_layer4"):
    """Whole-model forward, one text at a time, with forward hooks doing the replacement."""
    hooks, out = [], []
    for name, idx in features.items():
        spec = lm.submodule(name)

        def hook(module, args, output, sae=saes[name], idx=idx):
            x = output[0] if isinstance(output, tuple) else output
            f = sae.encode(x)
            err = x - sae.decode(f)
            f[..., idx] = 0
            new = sae.decode(f) + err
            return (new, *output[1:]) if isinstance(output, tuple) else new

        hooks.append(spec.module(lm.model).register_forward_hook(hook))
    # Registered last, so it sees the output after any ablation hook on the same module.
    seen = {}
    probe_module = lm.submodule(probe).module(lm.model)
    hooks.append(probe_module.register_forward_hook(lambda m, a, o: seen.update(x=o)))
    try:
        with torch.no_grad():
            for t in texts:
                lm.model(**lm.tokenizer(t, return_tensors="pt"))
                x = seen["x"][0] if isinstance(seen["x"], tuple) else seen["x"]
                out.append(x[0].mean(0))
    finally:
        for h in hooks:
            h.remove()
    return torch.stack(out)


@pytest.mark.parametrize(
    "features",
    [
        {},
        {"mlp_out_layer2": torch.tensor([1, 5, 7]), "resid_out_layer3": torch.tensor([0, 2])},
        {"embed": torch.tensor([4]), "attn_out_layer0": torch.tensor([3, 9])},
        {"resid_out_layer4": torch.tensor([11])},
    ],
)
def test_ablation_matches_hooked_full_forward(setup, features):
    lm, saes = setup
    ref = _reference(lm, saes, features, TEXTS)
    for cache_prefix in (True, False):
        ev = AblationEvaluator(
            lm,
            saes,
            TEXTS,
            lm.submodule("resid_out_layer4"),
            batch_size=2,
            cache_prefix=cache_prefix,
        )
        torch.testing.assert_close(ev.pooled(features), ref, atol=1e-5, rtol=1e-4)


def test_ablation_changes_output_only_when_features_fire(setup):
    lm, saes = setup
    ev = AblationEvaluator(lm, saes, TEXTS, lm.submodule("resid_out_layer4"))
    clean = ev.pooled()
    x = torch.randn(3, 4, 32)
    sae = saes["mlp_out_layer1"]
    dead = torch.nonzero(sae.encode(x).amax((0, 1)) == 0).flatten()
    if len(dead):
        torch.testing.assert_close(ablate(sae, x, dead[:1]), x, atol=1e-6, rtol=0)
    moved = ev.pooled({"resid_out_layer1": torch.arange(48)})
    assert (moved - clean).abs().max() > 1e-3


def test_identity_mean_ablation_sets_neurons_to_their_mean():
    x = torch.randn(2, 3, 5)
    fill = torch.arange(5.0)
    out = ablate(IdentityDictionary(5), x, torch.tensor([1, 3]), fill)
    assert torch.all(out[..., 1] == 1.0) and torch.all(out[..., 3] == 3.0)
    torch.testing.assert_close(out[..., [0, 2, 4]], x[..., [0, 2, 4]])


def test_parse_feature_ids(setup):
    _, saes = setup
    fs = parse_feature_ids(["resid_out_layer3/7", "# comment", "", "embed/2", "embed/2"], saes)
    assert fs["resid_out_layer3"].tolist() == [7] and fs["embed"].tolist() == [2]
    with pytest.raises(ToolkitError, match="does not exist: resid_out_layer3 has 48 features"):
        parse_feature_ids(["resid_out_layer3/48"], saes)
    with pytest.raises(ToolkitError, match="no SAE for submodule 'mlp_out_layer9'"):
        parse_feature_ids(["mlp_out_layer9/1"], saes)
    with pytest.raises(ToolkitError, match="SUBMODULE/INDEX"):
        parse_feature_ids(["resid_out_layer3:7"], saes)
    with pytest.raises(ToolkitError, match="names no features"):
        parse_feature_ids(["# nothing"], saes)


def test_rank_features_orders_across_submodules():
    effects = {"a": torch.tensor([0.1, 0.9, -2.0]), "b": torch.tensor([0.5, 1.5])}
    ranked = rank_features(effects)
    assert [r.id for r in ranked] == ["b/1", "a/1", "b/0", "a/0", "a/2"]
    assert [r.id for r in rank_features(effects, top=2)] == ["b/1", "a/1"]
    fs = feature_set(ranked[:3])
    assert fs["a"].tolist() == [1] and fs["b"].tolist() == [0, 1]


@pytest.mark.slow
@pytest.mark.parametrize("cache_prefix", [True, False])
def test_pooled_sweep_equals_one_pass_per_set(setup, cache_prefix):
    """The sweep's reuse of the previous set's residual stream changes no bit of the result,
    whichever layers the growing sets add features to (and when a set is repeated or emptied)."""
    lm, saes = setup
    ranked = rank_features(
        {
            name: torch.randn(48, generator=torch.Generator().manual_seed(i))
            for i, name in enumerate(saes)
        },
        top=12,
    )
    sets = [feature_set(ranked[:k]) for k in range(1, 13)]
    sets += [sets[-1], {}, {"resid_out_layer3": torch.tensor([0, 5])}]
    ev = AblationEvaluator(
        lm, saes, TEXTS, lm.submodule("resid_out_layer4"), batch_size=2, cache_prefix=cache_prefix
    )
    swept = list(ev.pooled_sweep(sets, chunk=5))
    assert len(swept) == len(sets)
    for s, got in zip(sets, swept, strict=True):
        assert torch.equal(got, ev.pooled(s))
    assert not torch.equal(swept[0], swept[-2])  # the sets do change the output
