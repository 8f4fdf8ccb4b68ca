"""Node effects against exact activation patching (ground truth by brute force)."""

from __future__ import annotations

import pytest
import torch

from circuits.config import Baseline, EffectConfig
from circuits.effects import node_effects
from circuits.exact import exact_effects
from circuits.metrics import Metric, logit_diff, probe_metric
from circuits.runner import reachable_specs, run_metric
from circuits.states import State, compute_means, encode_states
from tests.circuits.circuit_helpers import make_batch


def _linear_probe() -> Metric:
    w = torch.linspace(-1.0, 1.0, 16, dtype=torch.float64)
    return probe_metric(w, 0.2, reads="resid_out_layer1")


def _baseline(kind, lm, saes, batch):
    if kind == "mean":
        return Baseline("mean", compute_means(lm, saes, [batch]))
    return Baseline(kind)


@pytest.mark.parametrize("baseline", ["zero", "mean", "patch"])
@pytest.mark.parametrize("aggregation", ["sum", "none"])
def test_attribution_equals_exact_patching_when_metric_is_linear(
    tiny_lm, tiny_saes, baseline, aggregation
):
    # one SAE at the submodule the probe reads: m is affine in x = decode(f) + err, hence
    # affine in every feature and in the error, so the first-order estimate is exact
    saes = {"resid_out_layer1": tiny_saes["resid_out_layer1"]}
    batch = make_batch(b=3, t=5, pad_first=0 if aggregation == "none" else 2)
    metric = _linear_probe()
    base = _baseline(baseline, tiny_lm, saes, batch)
    cfg = EffectConfig(method="attrib", baseline=base, aggregation=aggregation)
    approx, _ = node_effects(tiny_lm, saes, [batch], metric, cfg, progress=False)
    exact = exact_effects(tiny_lm, saes, [batch], metric, cfg, progress=False)
    f_a, f_e = approx.features["resid_out_layer1"], exact.features["resid_out_layer1"]
    assert f_e.abs().max() > 1e-3  # the test is not vacuous
    assert torch.allclose(f_a, f_e, atol=1e-9, rtol=1e-7)
    assert torch.allclose(approx.errors["resid_out_layer1"], exact.errors["resid_out_layer1"])
    assert approx.n_examples == exact.n_examples == 3


def _whole_submodule_effects(lm, saes, names, batch, metric):
    """m(do(x_s = x_patch)) - m(clean) for each submodule s: the IG completeness target."""
    specs = lm.submodules(layers=[0, 1])
    patch = dict(batch, input_ids=batch["patch_input_ids"])
    states, _ = encode_states(lm, saes, specs, patch)
    with torch.no_grad():
        m_clean = run_metric(lm, batch, metric).mean()
        out = {}
        for name in names:
            xp = states[name].output(saes[name])
            out[name] = float(
                run_metric(lm, batch, metric, {name: lambda x, xp=xp: xp}).mean() - m_clean
            )
    return out


def test_ig_converges_to_patching_as_steps_grow(tiny_lm, tiny_saes, tiny_names):
    # nonlinear metric (logits through a layer without SAE); by IG's completeness the sum of all
    # node effects of a submodule tends to the effect of patching the whole submodule
    batch = make_batch(b=3, t=6)
    metric = logit_diff()
    target = _whole_submodule_effects(tiny_lm, tiny_saes, tiny_names, batch, metric)
    errors = []
    for steps in (1, 2, 4, 8, 16, 32):
        cfg = EffectConfig(method="ig", steps=steps, baseline=Baseline("patch"))
        eff, _ = node_effects(tiny_lm, tiny_saes, [batch], metric, cfg, progress=False)
        total = {n: float(eff.features[n].sum() + eff.errors[n]) for n in tiny_names}
        errors.append(sum(abs(total[n] - target[n]) for n in tiny_names))
    assert all(b <= a * 1.05 for a, b in zip(errors, errors[1:])), errors
    assert errors[-1] < errors[0] / 20, errors
    # the left Riemann sum converges like 1/N
    assert errors[-1] * 32 < errors[-2] * 16 * 1.5


def test_ig_of_a_single_node_converges_to_its_exact_effect(tiny_lm, tiny_saes):
    # one example of one token, and a "mean" baseline equal to the clean state except for
    # feature j: the IG path then moves only node j, so IG_j -> exact_j
    name = "resid_out_layer0"
    saes = {name: tiny_saes[name]}
    batch = make_batch(b=1, t=1, pad_first=0)
    metric = logit_diff()
    (spec,) = tiny_lm.submodules(layers=[0], kinds=("resid_out",))
    clean, _ = encode_states(tiny_lm, saes, [spec], batch)
    f, err = clean[name].f[0, 0].clone(), clean[name].err[0, 0].clone()
    j = int(f.argmax())
    f[j] = 0.0  # ablate feature j only
    base = Baseline("mean", {name: State(f, err)})
    exact = exact_effects(
        tiny_lm, saes, [batch], metric, EffectConfig(baseline=base), [(name, j)], progress=False
    )
    target = float(exact.features[name][j])
    assert abs(target) > 1e-4
    errs = []
    for steps in (1, 4, 16, 64):
        cfg = EffectConfig(method="ig", steps=steps, baseline=base)
        eff, _ = node_effects(tiny_lm, saes, [batch], metric, cfg, progress=False)
        errs.append(abs(float(eff.features[name][j]) - target))
        others = eff.features[name].clone()
        others[j] = 0
        assert others.abs().max() == 0 and abs(float(eff.errors[name])) < 1e-12
    assert errs == sorted(errs, reverse=True) and errs[-1] < errs[0] / 20, errs


def test_one_ig_step_is_attribution_patching(tiny_lm, tiny_saes):
    batch = make_batch()
    metric = logit_diff()
    a, _ = node_effects(
        tiny_lm, tiny_saes, [batch], metric, EffectConfig(method="attrib"), progress=False
    )
    for mode in ("per_submodule", "joint"):
        cfg = EffectConfig(method="ig", steps=1, ig_mode=mode)
        b, _ = node_effects(tiny_lm, tiny_saes, [batch], metric, cfg, progress=False)
        for n in a.features:
            assert torch.allclose(a.features[n], b.features[n], atol=1e-10)
            assert torch.allclose(a.errors[n], b.errors[n], atol=1e-10)


def test_joint_and_per_submodule_agree_on_the_last_submodule(tiny_lm, tiny_saes):
    batch = make_batch()
    metric = logit_diff()
    out = {}
    for mode in ("per_submodule", "joint"):
        cfg = EffectConfig(method="ig", steps=5, ig_mode=mode, max_tokens_per_pass=40)
        out[mode], _ = node_effects(tiny_lm, tiny_saes, [batch], metric, cfg, progress=False)
    last = "resid_out_layer1"
    assert torch.allclose(out["joint"].features[last], out["per_submodule"].features[last])
    # earlier submodules integrate along different paths
    assert not torch.allclose(
        out["joint"].features["embed"], out["per_submodule"].features["embed"]
    )


def test_method_can_be_chosen_per_submodule(tiny_lm, tiny_saes):
    batch = make_batch()
    metric = logit_diff()
    mixed = {n: ("attrib" if n.startswith("attn") else "ig") for n in tiny_saes}
    for mode in ("per_submodule", "joint"):
        cfg = EffectConfig(method=mixed, steps=4, ig_mode=mode)
        m, _ = node_effects(tiny_lm, tiny_saes, [batch], metric, cfg, progress=False)
        a, _ = node_effects(
            tiny_lm, tiny_saes, [batch], metric, EffectConfig(method="attrib"), progress=False
        )
        i, _ = node_effects(
            tiny_lm, tiny_saes, [batch], metric, EffectConfig(steps=4, ig_mode=mode), progress=False
        )
        for n in tiny_saes:
            ref = a if n.startswith("attn") else i
            assert torch.allclose(m.features[n], ref.features[n], atol=1e-10), (mode, n)


def test_batches_aggregate_as_mean_over_examples(tiny_lm, tiny_saes):
    metric = logit_diff()
    b1, b2 = make_batch(b=2, seed=1), make_batch(b=3, seed=2)
    cfg = EffectConfig(method="attrib")
    both, _ = node_effects(tiny_lm, tiny_saes, [b1, b2], metric, cfg, progress=False)
    e1, _ = node_effects(tiny_lm, tiny_saes, [b1], metric, cfg, progress=False)
    e2, _ = node_effects(tiny_lm, tiny_saes, [b2], metric, cfg, progress=False)
    for n in tiny_saes:
        assert torch.allclose(both.features[n], (2 * e1.features[n] + 3 * e2.features[n]) / 5)


def test_forward_stops_at_the_probe_layer(tiny_lm, tiny_saes):
    calls = {"later": 0, "unembed": 0}

    def count(key):
        def hook(*_):
            calls[key] += 1

        return hook

    model = tiny_lm.model
    handles = [
        model.gpt_neox.layers[2].register_forward_hook(count("later")),
        model.get_output_embeddings().register_forward_hook(count("unembed")),
    ]
    try:
        metric = _linear_probe()
        eff, _ = node_effects(
            tiny_lm, tiny_saes, [make_batch()], metric, EffectConfig(steps=2), progress=False
        )
    finally:
        for h in handles:
            h.remove()
    assert calls == {"later": 0, "unembed": 0}
    # submodules past what the metric reads are left out
    saes = dict(tiny_saes)
    metric0 = probe_metric(torch.ones(16, dtype=torch.float64), reads="resid_out_layer0")
    eff0, _ = node_effects(
        tiny_lm, saes, [make_batch()], metric0, EffectConfig(steps=2), progress=False
    )
    assert eff0.names == ["embed", "attn_out_layer0", "mlp_out_layer0", "resid_out_layer0"]


def test_exact_effects_against_a_plain_forward(tiny_lm, tiny_saes):
    # exact patching of the error node with the zero baseline = running the model with the
    # submodule output replaced by decode(f), i.e. x - err
    name = "mlp_out_layer0"
    saes = {name: tiny_saes[name]}
    batch = make_batch()
    metric = logit_diff()
    ex = exact_effects(
        tiny_lm, saes, [batch], metric, nodes=[(name, "error"), (name, 3)], progress=False
    )
    sae = saes[name]
    mask = batch["attention_mask"][..., None].double()

    def no_error(x):
        return x - (x - sae(x)) * mask

    def no_feature3(x):
        f = sae.encode(x)
        return x - f[..., 3:4] * sae.decoder.weight[:, 3] * mask

    with torch.no_grad():
        m0 = run_metric(tiny_lm, batch, metric)
        m1 = run_metric(tiny_lm, batch, metric, {name: no_error})
        m2 = run_metric(tiny_lm, batch, metric, {name: no_feature3})
    assert torch.allclose(ex.errors[name], (m1 - m0).mean())
    assert torch.allclose(ex.features[name][3], (m2 - m0).mean())
    assert torch.isnan(ex.features[name][0])


def _per_submodule_ig_by_full_passes(lm, saes, batch, metric, cfg):
    """Textbook per-submodule IG: for each submodule s and each alpha, one full forward from the
    input with s set to x_c + alpha (x_p - x_c), then dm/dx_s; effects as `token_effects`."""
    from circuits.effects import decoder_matrix, token_effects
    from circuits.states import patch_states

    specs = reachable_specs(lm, list(saes), metric)
    clean, _ = encode_states(lm, saes, specs, batch, metric, errors=False)
    patch, _ = patch_states(lm, saes, specs, batch, cfg.baseline, clean, metric, errors=False)
    mask = batch["attention_mask"].double()
    grads, feats, errs = {}, {}, {}
    for s in specs:
        sae = saes[s.name]
        xc, xp = clean[s.name].output(sae), patch[s.name].output(sae)
        g = torch.zeros_like(xc)
        for k in range(cfg.steps):
            z = (xc + k / cfg.steps * (xp - xc)).detach().requires_grad_(True)
            with torch.enable_grad():
                m = run_metric(lm, batch, metric, {s.name: lambda x, z=z: z})
                g += torch.autograd.grad(m.sum(), z)[0]
        grads[s.name] = g / cfg.steps
        feat, err = token_effects(sae, decoder_matrix(sae), clean[s.name], patch[s.name], g)
        feats[s.name] = (feat / cfg.steps * mask[..., None]).sum((0, 1)) / mask.shape[0]
        errs[s.name] = (err / cfg.steps * mask).sum() / mask.shape[0]
    return grads, feats, errs


@pytest.mark.parametrize(
    ("max_tokens_per_pass", "reads"), [(18, "logits"), (40, "logits"), (40, "resid_out_layer1")]
)
def test_per_submodule_ig_with_clean_prefix_reuse_equals_full_passes(
    tiny_lm, tiny_saes, max_tokens_per_pass, reads
):
    # 18 tokens a batch: one alpha per pass, or two (the last pass with one); the probe reads a
    # submodule that is itself interpolated (its recorded output, then edited, then read)
    batch = make_batch()
    metric = logit_diff() if reads == "logits" else _linear_probe()
    cfg = EffectConfig(
        steps=4,
        ig_mode="per_submodule",
        baseline=Baseline("patch"),
        max_tokens_per_pass=max_tokens_per_pass,
    )
    eff, kept = node_effects(
        tiny_lm, tiny_saes, [batch], metric, cfg, keep_grads=True, progress=False
    )
    grads, feats, errs = _per_submodule_ig_by_full_passes(tiny_lm, tiny_saes, batch, metric, cfg)
    for name in tiny_saes:
        assert torch.allclose(kept[0].grads[name], grads[name], rtol=1e-9, atol=1e-12), name
        assert torch.allclose(eff.features[name], feats[name], rtol=1e-9, atol=1e-12), name
        assert torch.allclose(eff.errors[name], errs[name], rtol=1e-9, atol=1e-12), name


def test_per_submodule_ig_runs_the_layers_before_a_submodule_once(tiny_lm, tiny_saes):
    # clean-prefix reuse: layer 0 ends before every layer-1 submodule, so after the alpha_0 pass
    # only the passes of the submodules up to mlp_0 enter it (its layer norm counts the entries;
    # a forward hook on the layer itself would also fire on a recorded output)
    calls = {"layer0": 0}

    def count(*_):
        calls["layer0"] += 1

    handle = tiny_lm.model.gpt_neox.layers[0].input_layernorm.register_forward_hook(count)
    try:
        cfg = EffectConfig(steps=3, ig_mode="per_submodule", max_tokens_per_pass=10**6)
        node_effects(tiny_lm, tiny_saes, [make_batch()], _linear_probe(), cfg, progress=False)
    finally:
        handle.remove()
    before_layer1 = [n for n in tiny_saes if n == "embed" or n.endswith("layer0")]
    # one pass to encode the clean states, one for alpha_0, one per submodule up to resid_0
    # (all alphas stacked in one pass); resid_0 itself returns its recorded output
    assert calls["layer0"] == 2 + len(before_layer1) - 1


def test_neuron_set_follows_the_models_device_and_dtype(tiny_lm):
    """`SAESet.identity(lm)` lives where the model does (float64 here; CUDA on a GPU machine), so
    node effects of neurons run; with CPU float32 directions the effects fail on any other."""
    from ssae.sae_set import SAESet

    neurons = SAESet.identity(tiny_lm, names=["resid_out_layer0", "resid_out_layer1"])
    for sae in neurons.values():
        D = sae.decoder_directions
        assert D.device == tiny_lm.device and D.dtype == tiny_lm.model.dtype == torch.float64
    batch = make_batch(b=2, t=4)
    cfg = EffectConfig(method="attrib")
    effects, _ = node_effects(tiny_lm, dict(neurons), [batch], _linear_probe(), cfg, progress=False)
    assert effects.features["resid_out_layer1"].shape == (tiny_lm.d_model,)
