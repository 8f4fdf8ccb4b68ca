"""Dictionaries: slicing to the first k features and folding an input scale into the biases."""

from __future__ import annotations

import pytest
import torch

from ssae.archs import AutoEncoder, JumpReLUAutoEncoder, TopKAutoEncoder
from ssae.dictionary import IdentityDictionary

pytestmark = pytest.mark.usefixtures("one_thread")


def _randomised(ae):
    torch.manual_seed(3)
    with torch.no_grad():
        for p in ae.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return ae


@pytest.mark.parametrize(
    "make",
    [
        lambda: AutoEncoder(8, 20),
        lambda: TopKAutoEncoder(8, 20, k=20),
        lambda: JumpReLUAutoEncoder(8, 20, apply_b_dec_to_input=True),
    ],
)
def test_slice_keeps_the_first_k_features(make):
    ae = _randomised(make())
    x = torch.randn(40, 8)
    k = 7
    small = ae.slice(k)
    assert (small.activation_dim, small.dict_size) == (8, k)
    f = ae.encode(x)
    assert torch.allclose(small.encode(x), f[:, :k], atol=1e-6)
    # reconstruction = decoder over the kept features only
    expected = f[:, :k] @ ae.decoder_directions[:k] + (ae.decode(torch.zeros_like(f)))
    assert torch.allclose(small(x), expected, atol=1e-5)
    with pytest.raises(ValueError):
        ae.slice(21)


def test_topk_slice_caps_k():
    ae = _randomised(TopKAutoEncoder(8, 20, k=10))
    assert int(ae.slice(4).k) == 4 and int(ae.slice(15).k) == 10


@pytest.mark.parametrize(
    "make",
    [
        lambda: AutoEncoder(8, 20),
        lambda: TopKAutoEncoder(8, 20, k=5),
        lambda: JumpReLUAutoEncoder(8, 20),
    ],
)
def test_scale_biases_folds_an_input_scale(make):
    """An SAE trained on x / s, folded with scale_biases(s), reads raw x: f' = s f, x_hat' = s x_hat."""
    ae = _randomised(make())
    if isinstance(ae, TopKAutoEncoder):
        ae.threshold.fill_(0.05)
    s = 7.5
    x = torch.randn(40, 8) * s
    f, x_hat = ae.encode(x / s), ae(x / s)
    ae.scale_biases(s)
    assert torch.allclose(ae.encode(x), s * f, atol=1e-4)
    assert torch.allclose(ae(x), s * x_hat, atol=1e-4)


def test_features_and_error_reassemble_input():
    ae = _randomised(AutoEncoder(8, 20))
    x = torch.randn(10, 8)
    f, err = ae.features_and_error(x)
    assert torch.allclose(ae.decode(f) + err, x, atol=1e-6)
    ident = IdentityDictionary(8)
    f, err = ident.features_and_error(x)
    assert torch.equal(f, x) and not err.any()


def test_normalize_decoder_keeps_outputs():
    ae = _randomised(AutoEncoder(8, 20))
    with torch.no_grad():
        ae.decoder.weight.mul_(torch.rand(20) + 0.5)
    x = torch.randn(10, 8)
    before = ae(x)
    ae.normalize_decoder()
    assert torch.allclose(ae.decoder.weight.norm(dim=0), torch.ones(20), atol=1e-6)
    assert torch.allclose(ae(x), before, atol=1e-5)


def test_identity_dictionary_tensors_follow_its_device_and_dtype():
    """The neuron skyline's dictionary creates its decoder directions where it lives (issue: they
    were made on the CPU in float32 on every call and multiplied with CUDA / float64 tensors)."""
    meta = IdentityDictionary(6, device="meta")
    assert meta.decoder_directions.device.type == "meta"
    moved = IdentityDictionary(6).to(device="meta", dtype=torch.float64)
    D = moved.decoder_directions
    assert D.device.type == "meta" and D.dtype == torch.float64 and D.shape == (6, 6)
    assert torch.equal(IdentityDictionary(3).decoder_directions, torch.eye(3))
    assert not IdentityDictionary(3).state_dict()  # nothing to save: the anchor is not persistent
