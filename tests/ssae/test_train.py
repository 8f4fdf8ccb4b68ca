"""Training and finetuning SAE sets: shared forward pass, loss goes down, exact resume, errors."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from ssae.activations import masked_tokens, read_activations
from ssae.arch_config import ArchConfig
from ssae.archs import AutoEncoder
from ssae.errors import CheckpointError, ToolkitError
from ssae.fit_config import FitConfig
from ssae.sae_set import SAESet
from ssae.term import tilted_risk
from ssae.train import CHECKPOINT, FinetuneConfig, TrainConfig, finetune_saes, train_saes
from ssae.trainer import MultiSAETrainer

pytestmark = pytest.mark.usefixtures("one_thread")


def _train_cfg(**kw):
    base = dict(dict_size=64, n_tokens=3000, batch_docs=8, progress=False, checkpoint_every=1000)
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def gsae(tiny_lm, general_tokens, tmp_path_factory):
    out = tmp_path_factory.mktemp("gsae") / "set"
    return train_saes(tiny_lm, general_tokens, _train_cfg(n_tokens=6000, threads=1), out), out


def _objective(lm, saes, tokens, tilt=0.0, l1=1.0):
    """Per-SAE tilted risk of l_i = ||x - x_hat||^2 + l1 ||f||_1 in the normalised units trained in."""
    out = {}
    batch = {"input_ids": tokens.input_ids.long(), "attention_mask": tokens.attention_mask()}
    with torch.no_grad():
        xs = masked_tokens(read_activations(lm, saes.specs, batch), batch["attention_mask"])
        for name, ae in saes.items():
            s = saes.configs[name]["trainer"]["activation_scale"]
            f = ae.encode(xs[name])
            per_token = (ae.decode(f) - xs[name]).pow(2).sum(-1) / s**2 + l1 * f.sum(-1) / s
            out[name] = float(tilted_risk(per_token.double(), tilt))
    return out


def test_general_training(gsae, tiny_lm):
    saes, out = gsae
    assert saes.names == [s.name for s in tiny_lm.submodules()]
    hist = saes.meta["history"]
    assert sum(hist[-3:]) < sum(hist[:3])
    for name, ae in saes.items():
        assert isinstance(ae, AutoEncoder) and ae.dict_size == 64
        assert torch.allclose(ae.decoder.weight.norm(dim=0), torch.ones(64), atol=1e-5)
        assert saes.configs[name]["trainer"]["activation_scale"] > 0
    back = SAESet.load(out, tiny_lm)
    x = torch.randn(4, 32)
    assert all(torch.equal(back[n](x), saes[n](x)) for n in saes)
    assert not (out / CHECKPOINT).exists()


def test_one_shared_forward_per_step(tiny_lm, general_tokens, tmp_path):
    counts = {"embed": 0, "final": 0, "steps": 0}
    model = tiny_lm.model
    hooks = [
        model.gpt_neox.embed_in.register_forward_hook(
            lambda *a: counts.__setitem__("embed", counts["embed"] + 1)
        ),
        model.gpt_neox.final_layer_norm.register_forward_hook(
            lambda *a: counts.__setitem__("final", counts["final"] + 1)
        ),
    ]
    try:
        cfg = _train_cfg(n_tokens=50_000, batch_docs=16)  # > 1 epoch: 3 steps per epoch
        train_saes(
            tiny_lm,
            general_tokens,
            cfg,
            tmp_path / "o",
            on_step=lambda step, stats: counts.__setitem__("steps", counts["steps"] + 1),
        )
    finally:
        for h in hooks:
            h.remove()
    # scale estimation reads every batch of the first epoch once (16k tokens > 1 epoch here)
    scale_passes = 3
    assert counts["steps"] > 3
    assert counts["embed"] == counts["steps"] + scale_passes
    assert counts["final"] == 0


def test_finetuning_lowers_loss_on_its_distribution(gsae, tiny_lm, narrow_tokens, tmp_path):
    saes, _ = gsae
    before = _objective(tiny_lm, saes, narrow_tokens)
    cfg = FinetuneConfig(lr=1e-3, n_tokens=4000, batch_docs=8, progress=False)
    tuned = finetune_saes(tiny_lm, saes, narrow_tokens, cfg, tmp_path / "erm")
    after = _objective(tiny_lm, tuned, narrow_tokens)
    assert all(after[n] < before[n] for n in saes), (before, after)
    # the input set is left untouched
    assert torch.equal(
        SAESet.load(gsae[1], tiny_lm)["embed"].encoder.weight, saes["embed"].encoder.weight
    )

    cfg = FinetuneConfig(lr=1e-3, n_tokens=4000, batch_docs=8, tilt=2.0, progress=False)
    tilted = finetune_saes(tiny_lm, saes, narrow_tokens, cfg, tmp_path / "term")
    t_before = _objective(tiny_lm, saes, narrow_tokens, tilt=2.0)
    t_after = _objective(tiny_lm, tilted, narrow_tokens, tilt=2.0)
    assert all(t_after[n] < t_before[n] for n in saes), (t_before, t_after)
    assert tilted.configs["embed"]["trainer"]["tilt"] == 2.0


class _Killed(Exception):
    pass


def _kill_at(step_to_die):
    def on_step(step, stats):
        if step == step_to_die:
            raise _Killed

    return on_step


def _same(a: SAESet, b: SAESet):
    assert a.names == b.names
    for n in a:
        sa, sb = a[n].state_dict(), b[n].state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa), n


_RESUMED = {
    "relu": ArchConfig("relu"),
    "random-decoder": ArchConfig("random-decoder"),
    "topk": ArchConfig("topk", k=4),
    "batchtopk": ArchConfig("batchtopk", k=4, threshold_start_step=1),
    "jumprelu": ArchConfig("jumprelu", target_l0=3.0),
    "matryoshka": ArchConfig("matryoshka", k=4, group_fractions=(0.25, 0.75)),
    "ortsae": ArchConfig("ortsae", k=4, ortho_chunk=16),
}


@pytest.mark.parametrize("kind", ["finetune", *(f"train-{a}" for a in _RESUMED)])
def test_killed_run_resumes_bit_identical(
    kind, gsae, tiny_lm, general_tokens, narrow_tokens, tmp_path
):
    if kind.startswith("train"):
        cfg = _train_cfg(
            arch=_RESUMED[kind.removeprefix("train-")],
            n_tokens=4000,
            checkpoint_every=3,
            resample_every=2,
            dead_tokens=50,
            target_l0=3.0,
            tilt=0.5,
            warmup_steps=2,
            l1_warmup_steps=2,
        )

        def run(out, on_step=None):
            return train_saes(tiny_lm, general_tokens, cfg, out, on_step=on_step)
    else:
        cfg = FinetuneConfig(
            lr=1e-3, n_tokens=3000, batch_docs=8, tilt=1e9, checkpoint_every=3, progress=False
        )

        def run(out, on_step=None):
            return finetune_saes(tiny_lm, gsae[0], narrow_tokens, cfg, out, on_step=on_step)

    whole = run(tmp_path / "whole")
    assert whole.meta["steps"] >= 7
    with pytest.raises(_Killed):
        run(tmp_path / "cut", on_step=_kill_at(4))
    assert (tmp_path / "cut" / CHECKPOINT).exists()
    steps_after_resume = []
    resumed = run(tmp_path / "cut", on_step=lambda s, _: steps_after_resume.append(s))
    assert steps_after_resume[0] == 3  # restarted from the checkpoint after 3 steps
    _same(whole, resumed)
    assert resumed.meta["history"] == whole.meta["history"]
    # a finished run is loaded, not retrained
    again = run(tmp_path / "cut", on_step=_kill_at(0))
    _same(whole, again)


def test_checkpoint_errors_name_file_and_mismatch(tiny_lm, general_tokens, tmp_path):
    cfg = _train_cfg(n_tokens=4000, checkpoint_every=2)
    with pytest.raises(_Killed):
        train_saes(tiny_lm, general_tokens, cfg, tmp_path / "a", on_step=_kill_at(3))
    ckpt = tmp_path / "a" / CHECKPOINT
    # other settings
    with pytest.raises(CheckpointError) as e:
        train_saes(tiny_lm, general_tokens, _train_cfg(n_tokens=4000, dict_size=32), tmp_path / "a")
    assert (
        str(ckpt) in str(e.value) and "other settings" in str(e.value) and "\n" not in str(e.value)
    )
    # torn file
    ckpt.write_bytes(ckpt.read_bytes()[:100])
    with pytest.raises(CheckpointError) as e:
        train_saes(tiny_lm, general_tokens, cfg, tmp_path / "a")
    assert str(ckpt) in str(e.value) and "corrupt" in str(e.value) and "\n" not in str(e.value)
    # trainer state of another width / input size
    fit = FitConfig(lr=1e-3, l1=0.1)
    small = MultiSAETrainer({"embed": AutoEncoder(32, 16)}, fit, total_steps=5)
    wide = MultiSAETrainer({"embed": AutoEncoder(32, 24)}, fit, total_steps=5)
    with pytest.raises(CheckpointError) as e:
        wide.load_state_dict(small.state_dict(), "run/checkpoint.pt")
    msg = str(e.value)
    assert "run/checkpoint.pt" in msg and "width 16" in msg and "24" in msg and "\n" not in msg
    other = MultiSAETrainer({"embed": AutoEncoder(48, 16)}, fit, total_steps=5)
    with pytest.raises(CheckpointError, match="input size 32"):
        other.load_state_dict(small.state_dict(), "run/checkpoint.pt")


def test_finetuning_keeps_units_and_l1(gsae, tiny_lm, narrow_tokens, tmp_path):
    saes, _ = gsae
    cfg = dict(n_tokens=500, batch_docs=8, progress=False)
    kept = finetune_saes(tiny_lm, saes, narrow_tokens, FinetuneConfig(**cfg), tmp_path / "a")
    for n in saes:
        mine, parent = kept.configs[n]["trainer"], saes.configs[n]["trainer"]
        assert mine["activation_scale"] == parent["activation_scale"]
        assert mine["l1_penalty"] == parent["l1_penalty"] == 1.0
    # an external SAE (no recorded scale): raw units by default, measured scale on request
    external = SAESet(
        {n: saes[n] for n in saes},
        saes.specs,
        {n: {"trainer": {"l1_penalty": 0.5}} for n in saes},
    )
    raw = finetune_saes(tiny_lm, external, narrow_tokens, FinetuneConfig(**cfg), tmp_path / "b")
    assert all(raw.configs[n]["trainer"]["activation_scale"] == 1.0 for n in saes)
    assert all(raw.configs[n]["trainer"]["l1_penalty"] == 0.5 for n in saes)
    scaled = finetune_saes(
        tiny_lm, external, narrow_tokens, FinetuneConfig(normalize=True, **cfg), tmp_path / "c"
    )
    for n in saes:
        t = scaled.configs[n]["trainer"]
        assert t["activation_scale"] != 1.0
        assert t["l1_penalty"] == pytest.approx(0.5 / t["activation_scale"])  # same raw trade-off
    fixed = finetune_saes(
        tiny_lm, saes, narrow_tokens, FinetuneConfig(l1=0.25, **cfg), tmp_path / "d"
    )
    assert all(fixed.configs[n]["trainer"]["l1_penalty"] == 0.25 for n in saes)


def test_unrelated_output_folder_is_refused(tiny_lm, general_tokens, tmp_path):
    (tmp_path / "mine.txt").write_text("x")
    with pytest.raises(ToolkitError, match="not empty"):
        train_saes(tiny_lm, general_tokens, _train_cfg(), tmp_path)
    with pytest.raises(ToolkitError, match="invalid SAE training settings: lr"):
        TrainConfig(lr=-1)
    with pytest.raises(ToolkitError, match="IdentityDictionary cannot be trained or finetuned"):
        finetune_saes(
            tiny_lm, SAESet.identity(tiny_lm), general_tokens, FinetuneConfig(), tmp_path / "i"
        )


def test_adaptive_l1_and_resampling():
    torch.manual_seed(0)
    ae = AutoEncoder(8, 32)
    with torch.no_grad():
        ae.encoder.bias[:8] = -1e3  # features 0..7 can never fire
    cfg = FitConfig(lr=1e-3, l1=0.01, target_l0=1.0, resample_every=4, dead_tokens=100)
    tr = MultiSAETrainer({"s": ae}, cfg, total_steps=100)
    x = torch.randn(64, 8)
    first = tr.step({"s": x})["s"]
    assert first["l0"] > 1.0
    for _ in range(2):
        tr.step({"s": x})
    assert tr.l1["s"] > 0.01  # L0 above target -> lambda grows
    dead_before = ae.encoder.weight[:8].clone()
    stats = tr.step({"s": x})["s"]  # step 4: resampling (64 tokens x 4 steps >= 100)
    assert stats["resampled"] >= 8
    assert not torch.equal(ae.encoder.weight[:8], dead_before)
    assert (ae.encoder.bias[:8] == 0).all()
    assert (tr.state["s"].optimizer.state[ae.encoder.weight]["exp_avg"][:8] == 0).all()
    assert torch.allclose(ae.decoder.weight.norm(dim=0), torch.ones(32), atol=1e-5)


_KILLED_RUN = """
import os, signal, sys, torch
torch.set_num_threads(1)
from ssae.models import load_model
from ssae.sae_set import SAESet
from ssae.tokens import TokenDataset
from ssae.train import FinetuneConfig, finetune_saes
model, saes, data, out = sys.argv[1:5]
lm = load_model(model)
cfg = FinetuneConfig(lr=1e-3, n_tokens=3000, batch_docs=8, tilt=500.0, checkpoint_every=2,
                     progress=False)
def die(step, stats):
    if step == 4:
        os.kill(os.getpid(), signal.SIGKILL)
finetune_saes(lm, SAESet.load(saes, lm), TokenDataset.load(data), cfg, out, on_step=die)
"""


def test_sigkilled_finetune_resumes_bit_identical(gsae, tiny_model_dir, narrow_tokens, tmp_path):
    import subprocess
    import sys

    from ssae.models import load_model
    from ssae.tokens import TokenDataset

    data = narrow_tokens.save(tmp_path / "data")
    args = [str(tiny_model_dir), str(gsae[1]), str(data), str(tmp_path / "cut")]
    proc = subprocess.run([sys.executable, "-c", _KILLED_RUN, *args], capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    assert (tmp_path / "cut" / CHECKPOINT).exists()
    assert not (tmp_path / "cut" / "sae_set.json").exists()

    lm = load_model(tiny_model_dir)  # same name as in the killed process: part of the run key
    cfg = FinetuneConfig(
        lr=1e-3, n_tokens=3000, batch_docs=8, tilt=500.0, checkpoint_every=2, progress=False
    )
    base = SAESet.load(gsae[1], lm)
    tokens = TokenDataset.load(data)
    seen = []
    resumed = finetune_saes(
        lm, base, tokens, cfg, tmp_path / "cut", on_step=lambda s, _: seen.append(s)
    )
    assert seen[0] == 4  # checkpoint after steps 0..3
    whole = finetune_saes(lm, base, tokens, cfg, tmp_path / "whole")
    _same(whole, resumed)


def test_cached_activations_train_like_live_reads(tiny_lm, narrow_tokens, tmp_path):
    """Training from an ActivationCache sees the same rows as reading them batch by batch (up to
    float rounding of differently shaped batches), so it ends at the same SAE."""
    from ssae.activations import ActivationCache

    specs = [tiny_lm.submodule("resid_out_layer0")]
    cache = ActivationCache(tiny_lm, specs, narrow_tokens, batch_docs=5)
    docs = torch.tensor([7, 2, 30])
    width = int(narrow_tokens.lengths[docs].max())
    mask = narrow_tokens.attention_mask(docs)[:, :width]
    batch = {"input_ids": narrow_tokens.input_ids[docs, :width].long(), "attention_mask": mask}
    live = masked_tokens(read_activations(tiny_lm, specs, batch), mask)["resid_out_layer0"]
    assert torch.allclose(cache.rows(docs)["resid_out_layer0"], live, atol=1e-5)
    cfg = dict(names=["resid_out_layer0"], n_tokens=2000, seed=3)
    a = train_saes(tiny_lm, narrow_tokens, _train_cfg(**cfg), tmp_path / "a")
    b = train_saes(
        tiny_lm, narrow_tokens, _train_cfg(cache_activations=True, **cfg), tmp_path / "b"
    )
    wa, wb = a["resid_out_layer0"].decoder.weight, b["resid_out_layer0"].decoder.weight
    assert torch.allclose(wa, wb, atol=1e-4) and a.meta["key"] != b.meta["key"]


@pytest.mark.parametrize(
    "arch",
    [
        ArchConfig("relu"),
        ArchConfig("ortsae", k=4, ortho_chunk=64),
        ArchConfig("jumprelu", target_l0=4.0),
    ],
    ids=lambda a: a.name,
)
def test_each_sae_trains_as_if_alone(arch, tiny_lm, general_tokens, tmp_path):
    # The SAEs of a set share one forward pass per step and nothing else: an SAE trained beside
    # others is bit for bit the same SAE trained alone (initialisation, resampling, OrtSAE's
    # random chunks), so a preset's SAEs do not change with the list of submodules it trains.
    names = [s.name for s in tiny_lm.submodules()]
    cfg = _train_cfg(
        arch=arch,
        n_tokens=20_000,
        dict_size=256,
        l1=10.0,
        resample_every=2,
        dead_tokens=64,
    )
    resampled = []
    together = train_saes(
        tiny_lm,
        general_tokens,
        cfg,
        tmp_path / "all",
        on_step=lambda step, stats: resampled.extend(s.get("resampled", 0) for s in stats.values()),
    )
    assert sum(resampled) > 0 or arch.name != "relu"
    last = names[-1]
    alone = train_saes(tiny_lm, general_tokens, replace(cfg, names=[last]), tmp_path / "one")
    for k, v in alone[last].state_dict().items():
        assert torch.equal(v, together[last].state_dict()[k]), k
    # and a different seed is a different draw
    other = train_saes(
        tiny_lm, general_tokens, replace(cfg, names=[last], seed=1), tmp_path / "seed1"
    )
    assert not torch.equal(other[last].decoder_directions, alone[last].decoder_directions)
