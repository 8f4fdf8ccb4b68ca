"""TERM against its definition: the mean at t = 0, the max as t grows, float64 formula, gradients."""

from __future__ import annotations

import math

import pytest
import torch

from ssae.term import TiltedLoss, tilted_risk

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def losses():
    return torch.rand(257, generator=torch.Generator().manual_seed(0)) * 5.0


def test_zero_tilt_is_exactly_the_mean(losses):
    assert torch.equal(TiltedLoss(0.0)(losses), losses.mean())


def test_small_tilt_tends_to_the_mean(losses):
    for t in (1e-4, -1e-4):
        assert abs(float(tilted_risk(losses, t)) - float(losses.mean())) < 1e-3
    # first-order term: R_t ~ mean + t/2 var
    t = 1e-3
    approx = float(losses.double().mean() + t / 2 * losses.double().var(unbiased=False))
    assert abs(float(tilted_risk(losses.double(), t)) - approx) < 1e-6


@pytest.mark.parametrize("t", [0.1, 1.0, 10.0, -1.0])
def test_matches_naive_float64_formula(losses, t):
    l64 = losses.double()
    naive = math.log(float(torch.exp(t * l64).mean())) / t
    assert float(tilted_risk(l64, t)) == pytest.approx(naive, rel=1e-12, abs=1e-12)
    assert float(TiltedLoss(t)(losses)) == pytest.approx(naive, rel=1e-6)


def test_approaches_max_and_min(losses):
    top, bottom = float(losses.max()), float(losses.min())
    previous = float(losses.mean())
    for t in (1.0, 10.0, 100.0, 1e4, 1e9):
        value = float(tilted_risk(losses.double(), t))
        assert previous - 1e-9 <= value <= top + 1e-9  # monotone in t, bounded by the max
        assert top - value <= math.log(losses.numel()) / t + 1e-9
        previous = value
    assert float(tilted_risk(losses.double(), -1e9)) == pytest.approx(bottom, abs=1e-6)


@pytest.mark.parametrize("t", [1e9, 500.0])
def test_huge_tilt_is_finite_with_softmax_gradient(losses, t):
    x = (losses * 100).requires_grad_(True)  # t * l ~ 5e11: exp() would overflow everywhere
    value = TiltedLoss(t)(x)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(x.grad).all()
    expected = torch.softmax(t * x.detach().double(), 0).float()
    assert torch.allclose(x.grad, expected, atol=1e-6)
    if t == 1e9:
        assert float(value.detach()) == pytest.approx(float(x.detach().max()), rel=1e-6)
        assert int(x.grad.argmax()) == int(x.detach().argmax())
        assert float(x.grad.sum()) == pytest.approx(1.0, abs=1e-6)


def test_gradient_is_softmax_weighting(losses):
    for t in (0.0, 0.3, 3.0):
        x = losses.clone().double().requires_grad_(True)
        tilted_risk(x, t).backward()
        assert torch.allclose(x.grad, TiltedLoss(t).weights(x.detach()), atol=1e-12)


def test_rejects_bad_input():
    with pytest.raises(ValueError):
        TiltedLoss(float("inf"))
    with pytest.raises(ValueError):
        tilted_risk(torch.zeros(0), 1.0)
