"""The linear probe: its update rule, recovery of a planted signal, and its checkpoint format."""

from __future__ import annotations

import pytest
import torch

from probes.config import ProbeConfig
from probes.probe import LinearProbe, accuracy, load_probe, save_probe, train_probe
from ssae.errors import CheckpointError


def planted(n=4000, d=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(d, generator=g)
    x = torch.randn(n, d, generator=g)
    y = (x @ w + 0.3 > 0).long()
    return x, y, w


def test_first_step_is_bce_adamw_by_hand():
    x, y, _ = planted(n=64, d=5)
    cfg = ProbeConfig(batch_size=64, epochs=1, lr=1e-2, weight_decay=0.01, seed=3, min_steps=0)
    probe = train_probe(x, y, cfg)
    torch.manual_seed(3)
    init = torch.nn.Linear(5, 1)
    w0, b0 = init.weight.detach()[0].clone(), init.bias.detach().clone()
    # d/dz of mean BCE-with-logits is (sigmoid(z) - y) / n
    r = (torch.sigmoid(x @ w0 + b0) - y.float()) / len(y)
    gw, gb = x.T @ r, r.sum(0, keepdim=True)

    # AdamW step 1: bias-corrected m/sqrt(v) = g/|g|, decoupled decay p *= 1 - lr*wd
    def step(p, g):
        return p * (1 - 1e-2 * 0.01) - 1e-2 * g / (g.abs() + 1e-8)

    torch.testing.assert_close(probe.net.weight.detach()[0], step(w0, gw), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(probe.net.bias.detach(), step(b0, gb), rtol=1e-5, atol=1e-6)


def test_recovers_planted_direction():
    x, y, w = planted()
    probe = train_probe(x[:3000], y[:3000], ProbeConfig(epochs=10))
    assert accuracy(probe, x[3000:], y[3000:]) > 0.95
    cos = torch.nn.functional.cosine_similarity(probe.net.weight.detach()[0], w, dim=0)
    assert cos > 0.9
    # a probe on labels independent of x stays at chance
    noise = torch.randint(0, 2, (4000,), generator=torch.Generator().manual_seed(5))
    assert abs(accuracy(train_probe(x[:3000], noise[:3000]), x[3000:], noise[3000:]) - 0.5) < 0.06


def test_seeded_and_retrain_on_modified_activations():
    x, y, w = planted(n=1024)
    a, b = train_probe(x, y), train_probe(x, y)
    assert torch.equal(a.net.weight, b.net.weight)
    assert not torch.equal(train_probe(x, y, ProbeConfig(seed=1)).net.weight, a.net.weight)
    # remove the planted direction from the activations: a retrained probe can no longer use it
    u = w / w.norm()
    ablated = x - (x @ u)[:, None] * u[None, :]
    assert accuracy(train_probe(ablated, y, ProbeConfig(epochs=3)), ablated, y) < 0.65
    warm = train_probe(x, y, init=a)
    assert not torch.equal(warm.net.weight, a.net.weight)  # trained further, input untouched
    assert torch.equal(a.net.weight, b.net.weight)


def test_save_load_roundtrip(tmp_path):
    x, y, _ = planted(n=256, d=7)
    probe = train_probe(x, y)
    save_probe(probe, tmp_path / "p.safetensors", model="m", submodule="resid_out_layer4")
    back = load_probe(tmp_path / "p.safetensors")
    assert isinstance(back, LinearProbe) and back.d == 7
    assert torch.equal(back.predict(x), probe.predict(x))
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        load_probe(tmp_path / "junk.safetensors")


def test_config_validation():
    with pytest.raises(ValueError):
        ProbeConfig(lr=0)
    with pytest.raises(ValueError):
        train_probe(torch.zeros(3, 2), torch.zeros(4))


def test_min_steps_repeats_epochs_on_small_sets():
    from probes.probe import n_epochs

    small = ProbeConfig(min_steps=100)  # the micro preset's explicit departure from the recipe
    assert n_epochs(22_000, small) == 1  # the paper's ambiguous set: ~172 steps in one epoch
    assert n_epochs(104, small) == 100  # one step per epoch -> 100 epochs
    assert n_epochs(1000, small) == 13  # 8 steps per epoch
    assert n_epochs(104, ProbeConfig(min_steps=0)) == 1
    assert n_epochs(1000, ProbeConfig(epochs=20)) == 20
    # two runs that take the same steps give the same probe
    x, y, _ = planted(n=200, d=4)
    a = train_probe(x, y, ProbeConfig(min_steps=10, batch_size=100))  # 5 epochs of 2 steps
    b = train_probe(x, y, ProbeConfig(min_steps=0, epochs=5, batch_size=100))
    assert torch.equal(a.net.weight, b.net.weight)


def test_default_is_exactly_one_epoch_of_the_paper_recipe():
    """SSAE paper App. G.1: one epoch, batch 128, AdamW lr 1e-2, seed 42, data in given order.
    Reference: the plain training loop written out, compared weight for weight."""
    from probes.probe import n_epochs

    assert ProbeConfig().min_steps == 0 and n_epochs(104, ProbeConfig()) == 1
    x, y, _ = planted(n=300, d=6)  # 3 steps: 128 + 128 + 44 examples
    probe = train_probe(x, y)
    torch.manual_seed(42)
    ref = torch.nn.Linear(6, 1)
    opt = torch.optim.AdamW(ref.parameters(), lr=1e-2, weight_decay=0.01)
    for start in range(0, 300, 128):
        xb, yb = x[start : start + 128], y[start : start + 128].float()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(ref(xb).squeeze(-1), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.testing.assert_close(probe.net.weight, ref.weight, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(probe.net.bias, ref.bias, rtol=1e-6, atol=1e-7)
