"""The boost SAE: a residual SAE trained on a frozen SAE's error, outputs summed."""

from __future__ import annotations

import pytest
import torch

from ssae.activations import read_activations
from ssae.errors import CheckpointError
from ssae.sae_set import SAESet
from ssae.studies.boost import BoostedDictionary, boosted_set, train_boost
from ssae.train import TrainConfig, train_saes

pytestmark = pytest.mark.usefixtures("one_thread")
SITE = "resid_out_layer1"


def _cfg(**kw):
    base = dict(dict_size=48, n_tokens=4000, batch_docs=8, progress=False, names=[SITE])
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def base(tiny_lm, general_tokens, tmp_path_factory):
    """A general SAE trained on general data only."""
    return train_saes(tiny_lm, general_tokens, _cfg(), tmp_path_factory.mktemp("g") / "set")


def _rows(lm, tokens):
    batch = {"input_ids": tokens.input_ids.long(), "attention_mask": tokens.attention_mask()}
    acts = read_activations(lm, [lm.submodule(SITE)], batch)[SITE]
    return acts[tokens.attention_mask().bool()]


def _fvu(x, x_hat):
    return float(((x - x_hat) ** 2).sum() / ((x - x.mean(0)) ** 2).sum())


def test_boosted_dictionary_is_base_plus_residual_of_the_error():
    torch.manual_seed(0)
    from ssae.archs import AutoEncoder

    b, r = AutoEncoder(8, 12), AutoEncoder(8, 5)
    with torch.no_grad():
        b.bias.normal_()
        r.encoder.bias.uniform_(-0.1, 0.3)
    d = BoostedDictionary(b, r)
    x = torch.randn(6, 8)
    f = d.encode(x)
    assert f.shape == (6, 17) and d.dict_size == 17
    assert torch.equal(f[:, :12], b.encode(x))
    assert torch.allclose(f[:, 12:], r.encode(x - b(x)))
    assert torch.allclose(d.decode(f), b(x) + r.decode(r.encode(x - b(x))), atol=1e-6)
    assert torch.equal(
        d.decoder_directions, torch.cat([b.decoder_directions, r.decoder_directions])
    )
    feats, err = d.features_and_error(x)
    assert torch.allclose(d.decode(feats) + err, x, atol=1e-6)


def test_residual_learns_what_the_frozen_base_misses(tiny_lm, base, narrow_tokens, tmp_path):
    before = {k: v.clone() for k, v in base[SITE].state_dict().items()}
    residual = train_boost(
        tiny_lm, base, narrow_tokens, _cfg(dict_size=16, lr=3e-3), tmp_path / "r"
    )
    # the base is untouched, the residual has no decoder bias
    assert all(torch.equal(before[k], v) for k, v in base[SITE].state_dict().items())
    assert torch.count_nonzero(residual[SITE].bias) == 0
    x = _rows(tiny_lm, narrow_tokens)
    boosted = boosted_set(base, residual).with_specs(tiny_lm)[SITE]
    with torch.no_grad():
        fvu_base, fvu_boost = _fvu(x, base[SITE](x)), _fvu(x, boosted(x))
    assert fvu_boost < 0.8 * fvu_base, (fvu_base, fvu_boost)
    # it was trained on the error, not on x: its recorded normalisation is the error's scale
    # sqrt(E||e||^2 / d), measured on the first batches of the plan (here: all the data)
    e = x - base[SITE](x).detach()
    scale = residual.configs[SITE]["trainer"]["activation_scale"]
    assert scale == pytest.approx(float(e.pow(2).mean().sqrt()), rel=1e-3)
    assert scale < 0.9 * float(x.pow(2).mean().sqrt())
    # the run is keyed by the base: the same folder refuses a different base
    other = SAESet.new(tiny_lm, 48, names=[SITE], seed=9)
    with pytest.raises(CheckpointError, match="other settings, data or model"):
        train_boost(tiny_lm, other, narrow_tokens, _cfg(dict_size=16, lr=3e-3), tmp_path / "r")
