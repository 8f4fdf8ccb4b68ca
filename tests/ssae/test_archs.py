"""SAE architectures (ssae.archs): forward passes and losses against dictionary_learning's reference
trainers, hand-computed OrtSAE and random-decoder cases, the on-disk layout, slicing, and sparsity
targets reached by training."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from ssae.arch_config import ArchConfig
from ssae.archs import (
    ARCHS,
    AutoEncoder,
    BatchTopKSAE,
    OrtSAE,
    RandomDecoderAutoEncoder,
    TopKAutoEncoder,
    for_training,
    new_dictionary,
)
from ssae.archs.base import LossContext
from ssae.archs.ortsae import orthogonality_penalty
from ssae.errors import ConfigError, ToolkitError
from ssae.fit_config import FitConfig
from ssae.formats import load_dictionary, save_dictionary
from ssae.term import tilted_risk
from ssae.trainer import MultiSAETrainer

pytestmark = pytest.mark.usefixtures("one_thread")

D, N = 12, 40
SETTINGS = {
    "relu": ArchConfig("relu"),
    "random-decoder": ArchConfig("random-decoder"),
    "topk": ArchConfig("topk", k=4),
    "batchtopk": ArchConfig("batchtopk", k=4),
    "jumprelu": ArchConfig("jumprelu", target_l0=6.0),
    "matryoshka": ArchConfig("matryoshka", k=4, group_fractions=(0.25, 0.25, 0.5)),
    "ortsae": ArchConfig("ortsae", k=4, ortho_chunk=16),
}


def _fresh(name: str, seed: int = 0, d: int = D, n: int = N):
    return new_dictionary(d, n, SETTINGS[name], torch.Generator().manual_seed(seed))


def _batch(seed: int = 1, rows: int = 64, d: int = D) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(rows, d, generator=g) * 1.5 + 0.3


def _perturb(ae, seed: int = 3) -> None:
    """Move every parameter off its symmetric initialisation (biases, encoder != decoder.T)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in ae.named_parameters():
            if name not in ("threshold",):
                p.add_(0.05 * torch.randn(p.shape, generator=g))


# ---------------------------------------------------------------- references (dictionary_learning)

dl_trainers = pytest.importorskip("dictionary_learning.trainers")


def _reference(name: str, since_fired: torch.Tensor, dead_tokens: int):
    """dictionary_learning's trainer for `name`, with dead-feature bookkeeping set like ours."""
    common = dict(steps=2000, activation_dim=D, dict_size=N, layer=0, lm_name="x", device="cpu")
    if name == "relu":
        from dictionary_learning.trainers.standard import StandardTrainer

        return StandardTrainer(
            **common, lr=1e-3, l1_penalty=0.3, warmup_steps=0, sparsity_warmup_steps=None
        )
    if name == "jumprelu":
        from dictionary_learning.trainers.jumprelu import JumpReluTrainer

        return JumpReluTrainer(
            **common,
            lr=1e-3,
            target_l0=6.0,
            sparsity_penalty=1.5,
            warmup_steps=0,
            sparsity_warmup_steps=None,
        )
    if name == "topk":
        from dictionary_learning.trainers.top_k import TopKTrainer as cls
    elif name == "batchtopk":
        from dictionary_learning.trainers.batch_top_k import BatchTopKTrainer as cls
    else:
        from dictionary_learning.trainers.matryoshka_batch_top_k import (
            MatryoshkaBatchTopKTrainer as cls,
        )

        common["group_fractions"] = [0.25, 0.25, 0.5]
    tr = cls(**common, k=4, lr=1e-3, auxk_alpha=0.2, warmup_steps=0)
    tr.num_tokens_since_fired = since_fired.clone()
    tr.dead_feature_threshold = dead_tokens
    return tr


@pytest.mark.parametrize("name", ["relu", "topk", "batchtopk", "jumprelu", "matryoshka"])
def test_forward_loss_and_gradients_equal_dictionary_learning(name):
    """On a hand-made batch, with some latents dead (AuxK active): the reference's encode/decode
    and loss equal ours, and so do the gradients of every parameter."""
    since = torch.zeros(N, dtype=torch.long)
    since[: N // 2] = 10_000  # half the latents have not fired for a long time
    dead_tokens = 5_000
    ref = _reference(name, since, dead_tokens)
    ours = _fresh(name)
    _perturb(ref.ae)
    ours.load_state_dict(ref.ae.state_dict())
    x = _batch(rows=6)  # few tokens: many latents stay silent, so dead ones remain for AuxK
    with torch.no_grad():
        assert torch.allclose(ours(x), ref.ae(x), atol=1e-6)  # inference forward
    arch = replace(SETTINGS[name], auxk_alpha=0.2, sparsity_coef=1.5)
    ctx = LossContext(step=0, arch=arch, l1=0.3, since_fired=since, dead_tokens=dead_tokens)
    out = ours.training_loss(x, ctx)
    loss = tilted_risk(out.per_token, 0.0) + out.batch
    theirs = ref.loss(x, step=0)
    assert torch.allclose(loss, theirs, rtol=1e-5, atol=1e-6), (float(loss), float(theirs))
    if name in ("topk", "batchtopk", "matryoshka"):
        assert float(out.batch.detach()) > 0  # AuxK took part
    loss.backward()
    theirs.backward()
    reference = dict(ref.ae.named_parameters())
    assert set(reference) == {n for n, _ in ours.named_parameters()}
    for pname, p in ours.named_parameters():
        assert torch.allclose(p.grad, reference[pname].grad, rtol=1e-4, atol=1e-6), pname


def test_relu_steps_equal_dictionary_learning_standard_trainer():
    """ERM + constrained Adam: our step is dictionary_learning's StandardTrainer step."""
    ref = _reference("relu", torch.zeros(N, dtype=torch.long), 1)
    ref.ae.normalize_decoder()
    ours = AutoEncoder(D, N)
    ours.load_state_dict(ref.ae.state_dict())
    trainer = MultiSAETrainer({"s": ours}, FitConfig(lr=1e-3, l1=0.3), total_steps=10)
    for step in range(5):
        x = _batch(seed=10 + step)
        ref.update(step, x)
        trainer.step({"s": x})
    for k, v in ref.ae.state_dict().items():
        assert torch.allclose(ours.state_dict()[k], v, atol=1e-6), k


# ---------------------------------------------------------------- hand-computed cases


def test_orthogonality_penalty_by_hand():
    # unit directions with known cosines: a and b at 60 degrees, c orthogonal to both
    w = torch.tensor([[1.0, 0.0, 0.0], [0.5, math.sqrt(3) / 2, 0.0], [0.0, 0.0, 1.0]])
    # one chunk: a's largest squared cosine is cos^2(60) = 1/4, b's too, c's is 0
    assert float(orthogonality_penalty(w, chunk=8, generator=None)) == pytest.approx(0.5 / 3)
    # anti-parallel directions are as bad as parallel ones (squared cosine)
    w2 = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    assert float(orthogonality_penalty(w2, chunk=8, generator=None)) == pytest.approx(1.0)
    # chunks of one feature see no partner: zero; chunk of size 2 pairs them up
    g = torch.Generator().manual_seed(0)
    assert float(orthogonality_penalty(w2 * 3, chunk=1 + 1, generator=g)) == pytest.approx(1.0)
    # the chunked penalty is bounded by the full one and equals it when chunk >= n
    big = torch.randn(64, 8, generator=torch.Generator().manual_seed(1))
    full = float(orthogonality_penalty(big, chunk=64, generator=g))
    chunked = float(orthogonality_penalty(big, chunk=16, generator=g))
    naive = torch.nn.functional.normalize(big, dim=1)
    cos2 = (naive @ naive.T).pow(2).fill_diagonal_(0)
    assert full == pytest.approx(float(cos2.max(1).values.mean()), rel=1e-6)
    assert 0 < chunked <= full


def test_ortsae_loss_is_batchtopk_plus_gamma_times_penalty():
    ort = _fresh("ortsae")
    btk = BatchTopKSAE(D, N, 4)
    btk.load_state_dict(ort.state_dict())
    x = _batch()
    arch = replace(SETTINGS["ortsae"], ortho_coef=0.7)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    a = ort.training_loss(x, LossContext(step=0, arch=arch, generator=g1))
    b = btk.training_loss(x, LossContext(step=0, arch=arch, generator=None))
    pen = orthogonality_penalty(ort.decoder.weight.T, arch.ortho_chunk, g2)
    assert torch.equal(a.per_token, b.per_token)
    assert float(a.batch.detach()) == pytest.approx(float(b.batch) + 0.7 * float(pen), rel=1e-6)


def test_random_decoder_trains_encoder_only():
    ae = _fresh("random-decoder")
    assert isinstance(ae, RandomDecoderAutoEncoder) and ae.dict_class == "AutoEncoder"
    relu = AutoEncoder(D, N)
    relu.load_state_dict(ae.state_dict())
    x = _batch()
    ctx = LossContext(step=0, arch=SETTINGS["relu"], l1=0.2)
    hand = (relu(x) - x).pow(2).sum(-1) + 0.2 * relu.encode(x).sum(-1)
    assert torch.allclose(ae.training_loss(x, ctx).per_token, hand, atol=1e-6)
    decoder, encoder = ae.decoder.weight.clone(), ae.encoder.weight.clone()
    cfg = FitConfig(lr=1e-2, l1=0.2, resample_every=1, dead_tokens=1)
    trainer = MultiSAETrainer({"s": ae}, cfg, total_steps=5)
    for _ in range(3):
        stats = trainer.step({"s": x})["s"]
    assert torch.equal(ae.decoder.weight, decoder)  # frozen, and never resampled
    assert "resampled" not in stats
    assert not torch.equal(ae.encoder.weight, encoder)


# ---------------------------------------------------------------- layout, slicing, conversion

_DL_CLASSES = {
    "relu": "AutoEncoder",
    "topk": "AutoEncoderTopK",
    "batchtopk": "BatchTopKSAE",
    "jumprelu": "JumpReluAutoEncoder",
    "matryoshka": "MatryoshkaBatchTopKSAE",
}


def _dl_class(name: str):
    import dictionary_learning.dictionary as dd
    from dictionary_learning.trainers import batch_top_k, matryoshka_batch_top_k, top_k

    return {
        "AutoEncoder": dd.AutoEncoder,
        "AutoEncoderTopK": top_k.AutoEncoderTopK,
        "BatchTopKSAE": batch_top_k.BatchTopKSAE,
        "JumpReluAutoEncoder": dd.JumpReluAutoEncoder,
        "MatryoshkaBatchTopKSAE": matryoshka_batch_top_k.MatryoshkaBatchTopKSAE,
    }[name]


@pytest.mark.parametrize("name", list(ARCHS))
def test_saved_in_dictionary_learning_layout_and_read_back(name, tmp_path):
    ae = _fresh(name)
    _perturb(ae)
    if hasattr(ae, "threshold") and ae.threshold.ndim == 0:
        ae.threshold.fill_(0.05)
    save_dictionary(ae, tmp_path / name, trainer={"arch": {"name": name}})
    back = load_dictionary(tmp_path / name)
    x = _batch()
    assert back.dict_class == ae.dict_class
    assert torch.equal(back(x), ae(x))
    dl_name = ae.dict_class
    cls = _dl_class(dl_name)
    sd = torch.load(tmp_path / name / "ae.pt", weights_only=True)
    if dl_name in ("AutoEncoderTopK", "BatchTopKSAE"):
        theirs = cls(D, N, int(sd["k"]))
    elif dl_name == "MatryoshkaBatchTopKSAE":
        theirs = cls(D, N, int(sd["k"]), sd["group_sizes"].tolist())
    else:
        theirs = cls(D, N)
    theirs.load_state_dict(sd)
    with torch.no_grad():
        assert torch.allclose(theirs(x), ae(x), atol=1e-6), dl_name


@pytest.mark.parametrize("name", list(ARCHS))
def test_slice_keeps_the_first_features(name):
    ae = _fresh(name)
    _perturb(ae)
    if name in ("batchtopk", "ortsae", "matryoshka"):
        ae.threshold.fill_(0.1)
    k = 20  # a Matryoshka group boundary (10 + 10 of 40)
    cut = ae.slice(k)
    assert cut.dict_size == k and type(cut) is type(ae)
    assert torch.equal(cut.decoder_directions, ae.decoder_directions[:k])
    x = _batch()
    if name == "topk":  # TopK chooses among the kept features only
        assert torch.equal(cut.pre_activations(x), ae.pre_activations(x)[:, :k])
    else:  # every other encoder acts feature by feature
        assert torch.allclose(cut.encode(x), ae.encode(x)[:, :k], atol=1e-6)
    if name == "matryoshka":
        assert cut.group_sizes.tolist() == [10, 10] and cut.prefixes == [10, 20]
        f = ae.encode(x)
        prefix = f[:, :k] @ ae.W_dec[:k] + ae.b_dec
        assert torch.allclose(cut(x), prefix, atol=1e-6)
    if name == "random-decoder":
        assert not cut.decoder.weight.requires_grad


def test_for_training_restores_the_architecture_a_shared_class_hides():
    saved = AutoEncoder(D, N)
    frozen = for_training(saved, ArchConfig("random-decoder"))
    assert isinstance(frozen, RandomDecoderAutoEncoder)
    assert torch.equal(frozen.decoder.weight, saved.decoder.weight)
    ort = for_training(BatchTopKSAE(D, N, 3), ArchConfig("ortsae", k=7))
    assert isinstance(ort, OrtSAE) and int(ort.k) == 3  # k is the weights' own
    with pytest.raises(ToolkitError, match="cannot train a AutoEncoderTopK dictionary as a relu"):
        for_training(TopKAutoEncoder(D, N, 2), ArchConfig("relu"))


def test_arch_settings_are_checked():
    with pytest.raises(ConfigError, match="needs k >= 1"):
        ArchConfig("batchtopk")
    with pytest.raises(ConfigError, match="unknown SAE architecture"):
        ArchConfig("gated")
    with pytest.raises(ConfigError, match="sum to 1"):
        ArchConfig("matryoshka", k=3, group_fractions=(0.5, 0.4))
    assert ArchConfig("matryoshka", k=3).group_sizes(1024) == [64, 64, 128, 256, 512]


# ---------------------------------------------------------------- training reaches its sparsity


def _sparse_data(rows: int, seed: int, d: int = 16, m: int = 64, active: int = 3):
    """x = sum of `active` of m random unit directions with positive magnitudes (a sparse world)."""
    g = torch.Generator().manual_seed(seed)
    dirs = torch.nn.functional.normalize(
        torch.randn(m, d, generator=torch.Generator().manual_seed(99)), dim=1
    )
    idx = torch.stack([torch.randperm(m, generator=g)[:active] for _ in range(rows)])
    mags = torch.rand(rows, active, generator=g) + 0.5
    return torch.einsum("ra,rad->rd", mags, dirs[idx])


@pytest.mark.parametrize("name", list(ARCHS))
def test_training_reaches_the_target_l0(name):
    """On data made of 3 of 64 directions per token: k sets the L0 of the TopK family (at
    inference through the threshold for the batch variants), adaptive L1 steers the L1
    architectures and the L0 loss JumpReLU (with a strong coefficient) to their targets."""
    target = 10.0 if name in ("relu", "random-decoder") else 8.0
    arch = replace(SETTINGS[name], sparsity_coef=10.0)
    if arch.k is not None:
        arch = replace(arch, k=int(target))
    if name == "jumprelu":
        arch = replace(arch, target_l0=target)
    ae = new_dictionary(16, 64, arch, torch.Generator().manual_seed(0))
    cfg = FitConfig(
        arch=arch,
        lr=3e-3,
        l1=0.05,
        target_l0=target if ae.uses_l1 else None,
        warmup_steps=5,
        l1_warmup_steps=5,
    )
    trainer = MultiSAETrainer({"s": ae}, cfg, total_steps=400)
    for step in range(400):
        trainer.step({"s": _sparse_data(256, seed=step)})
    held_out = _sparse_data(2048, seed=10_000)
    with torch.no_grad():
        l0 = float((ae.encode(held_out) > 0).sum(-1).float().mean())
        err = (ae(held_out) - held_out).pow(2).sum()
        fvu = float(err / (held_out - held_out.mean(0)).pow(2).sum())
    assert abs(l0 - target) / target < 0.15, (name, l0)
    if name == "topk":
        assert l0 == target
    assert fvu < (0.7 if name == "random-decoder" else 0.4), (name, fvu)


@pytest.mark.parametrize("name", list(ARCHS))
def test_set_features_is_decode_of_edited_features_plus_error(name):
    """Each architecture's (possibly shortcut) edit equals the definition
    decode(f with f[idx] := values) + (x - decode(f))."""
    from ssae.dictionary import Dictionary

    ae = _fresh(name)
    _perturb(ae)
    if hasattr(ae, "threshold") and ae.threshold.ndim == 0:
        ae.threshold.fill_(0.05)
    x = _batch()
    idx = torch.tensor([1, 7, 30])
    for values in (0.0, torch.tensor([0.5, 0.0, 2.0])):
        want = Dictionary.set_features(ae, x, idx, values)
        assert torch.allclose(ae.set_features(x, idx, values), want, atol=1e-5), name
