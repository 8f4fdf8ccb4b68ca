"""Training general SAEs from scratch and finetuning a whole SAE set on a token dataset.

Both walk a fixed, seeded plan of document batches over a `TokenDataset` (epoch e shuffles the
documents with seed + e; the plan ends when the token budget is spent, or after one epoch). Per
batch, ONE forward pass of the model reads the activations of every submodule (stopping after the
last one, ssae.activations), the padding positions are dropped, and every SAE takes one step of
`MultiSAETrainer` on its own rows (ERM or TERM; see ssae.trainer and ssae.term).

Normalisation: submodules of a small model can differ in activation norm by orders of magnitude,
which would make one L1 coefficient (and one tilt) mean different things per SAE. With
`normalize`, each SAE is trained on x / s with s = sqrt(E||x||^2 / d) (so E||x / s||^2 = d),
measured on the first batches of the plan. The saved SAE reads raw activations: training in
scaled space and folding back is exact, f_raw = s f (`Dictionary.scale_biases`), so the result
is a plain dictionary_learning AutoEncoder whose config.json records s (`activation_scale`) and
lambda (`l1_penalty`, in those units). Finetuning keeps an SAE's units by default: the recorded
s (none for an external SAE: raw units, s = 1) and, unless given, the recorded lambda, so lambda
and the tilt mean for the specialised SAE what they meant for its general parent. A fresh SAE
starts with b_dec at the mean input.

Runs resume (see ssae.run_folder): every `checkpoint_every` steps the trainer state, the step (= data position), the
scales and the RNG state are written atomically to `<out>/checkpoint.pt`; a rerun with the same
settings continues from there and ends bit-identical to an uninterrupted run. The finished set is
written (atomically, replacing the checkpoint) in the dictionary_learning layout with
`sae_set.json` marking it complete; a rerun then just loads it.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ssae.activations import ActivationCache, read_activations
from ssae.arch_config import ArchConfig
from ssae.archs import for_training
from ssae.configs import from_mapping
from ssae.content import source_key
from ssae.errors import DataError
from ssae.fit_config import FinetuneConfig, FitConfig, TrainConfig
from ssae.io import stable_hash, torch_save
from ssae.models import LoadedModel
from ssae.run_folder import CHECKPOINT, check_out_dir, completed, digest, load_checkpoint
from ssae.sae_set import SAESet, select_specs
from ssae.tokens import TokenDataset
from ssae.trainer import MultiSAETrainer, activation_scale

_SCALE_TOKENS = 16_384  # tokens used to estimate each activation scale and the initial b_dec


@dataclass
class _Plan:
    batches: list[torch.Tensor] = field(default_factory=list)
    n_tokens: int = 0


def plan_batches(tokens: TokenDataset, batch_docs: int, n_tokens: int | None, seed: int) -> _Plan:
    """Row indices of every step: seeded epochs, cut when `n_tokens` real tokens are planned."""
    if len(tokens) == 0 or tokens.n_tokens == 0:
        raise DataError("the token dataset is empty; nothing to train on")
    plan = _Plan()
    epoch = 0
    while True:
        gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
        order = torch.randperm(len(tokens), generator=gen)
        for start in range(0, len(tokens), batch_docs):
            rows = order[start : start + batch_docs]
            plan.batches.append(rows)
            plan.n_tokens += int(tokens.lengths[rows].sum())
            if n_tokens is not None and plan.n_tokens >= n_tokens:
                return plan
        epoch += 1
        if n_tokens is None:
            return plan


def train_saes(
    lm: LoadedModel,
    tokens: TokenDataset,
    cfg: TrainConfig,
    out_dir: str | Path,
    on_step: Callable[[int, dict], None] | None = None,
    residual_of: SAESet | None = None,
) -> SAESet:
    """Train one SAE per submodule from scratch (architecture `cfg.arch`); saved in `out_dir`.

    With `residual_of` (a frozen SAE set), each SAE learns that set's reconstruction error
    x - residual_of[name](x) instead of x (the boost SAE of arXiv 2507.12990)."""
    specs = select_specs(lm.submodules(), cfg.names)
    width = cfg.dict_size or cfg.expansion * lm.d_model
    saes = SAESet.new(specs, width, seed=cfg.seed, arch=cfg.arch)
    if not cfg.decoder_bias:
        for ae in saes.values():
            ae.decoder_bias.data.zero_()
            ae.decoder_bias.requires_grad_(False)
    base = None
    if residual_of is not None:
        base = residual_of.with_specs(lm).subset(saes.names).to(lm.device)
    out = Path(out_dir)
    return _fit(lm, saes, tokens, cfg, out, fresh=True, kind="train", on_step=on_step, base=base)


def finetune_saes(
    lm: LoadedModel,
    saes: SAESet,
    tokens: TokenDataset,
    cfg: FinetuneConfig,
    out_dir: str | Path,
    on_step: Callable[[int, dict], None] | None = None,
) -> SAESet:
    """Finetune (a copy of) every SAE of the set on `tokens`; the result is saved in `out_dir`.

    Each SAE keeps its architecture: `cfg.arch` when given, else the one its config.json records
    (a random-decoder SAE keeps its decoder frozen), else its class's."""
    bound = saes.with_specs(lm)
    names = cfg.names or bound.names
    bound = bound.subset(names)
    copied = SAESet(
        {n: for_training(copy.deepcopy(bound[n]), _arch_of(bound, n, cfg)) for n in names},
        bound.specs,
        bound.configs,
        bound.meta,
    )
    return _fit(
        lm, copied, tokens, cfg, Path(out_dir), fresh=False, kind="finetune", on_step=on_step
    )


def _fit(*args, **kwargs) -> SAESet:
    cfg = args[3]
    before = torch.get_num_threads()
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    try:
        return _fit_run(*args, **kwargs)
    finally:
        torch.set_num_threads(before)


def _fit_run(
    lm: LoadedModel,
    saes: SAESet,
    tokens: TokenDataset,
    cfg: FitConfig,
    out_dir: Path,
    fresh: bool,
    kind: str,
    on_step: Callable[[int, dict], None] | None,
    base: SAESet | None = None,
) -> SAESet:
    _check_tokens(lm, tokens)
    archs = {n: ae.arch_config(_arch_of(saes, n, cfg)) for n, ae in saes.items()}
    specs = saes.specs
    key = stable_hash(
        {
            "kind": kind,
            # 2: randomness per (seed, submodule name), one optimiser per SAE (was: by list index)
            "seeding": 2,
            "archs": {n: asdict(a) for n, a in archs.items()},
            "cfg": cfg.fingerprint(),
            "model": source_key(lm.name),  # what the model holds, not where it is
            "data": digest({"input_ids": tokens.input_ids, "lengths": tokens.lengths}),
            "init": None if fresh else {n: digest(saes[n].state_dict()) for n in saes},
            "parents": None if fresh else {n: _trained_with(saes, n) for n in saes},
            "residual_of": None
            if base is None
            else {n: digest(base[n].state_dict()) for n in base},
        }
    )
    done = completed(out_dir, key, lm)
    if done is not None:
        return done
    check_out_dir(out_dir)
    plan = plan_batches(tokens, cfg.batch_docs, cfg.n_tokens, cfg.seed)
    saes.to(lm.device)
    source = _Source(lm, specs, tokens, base, cfg)
    ckpt_file = out_dir / CHECKPOINT
    state = load_checkpoint(ckpt_file, key) if ckpt_file.exists() else None
    if state is not None:
        scales = {n: float(state["scales"][n]) for n in saes}
    else:
        scales = _initial_scales(source, saes, tokens, plan, cfg, fresh)
        for n, ae in saes.items():
            ae.scale_biases(1.0 / scales[n])  # into the space of x / s
    trainer = MultiSAETrainer(
        dict(saes.items()),
        cfg,
        total_steps=len(plan.batches),
        l1=_l1_coefficients(saes, cfg, scales),
        archs=archs,
    )
    history: list[float] = []
    if state is not None:
        trainer.load_state_dict(state["trainer"], str(ckpt_file))
        history = [float(v) for v in state["history"]]
        torch.set_rng_state(state["torch_rng"])
    total = len(plan.batches)
    stats: dict = {}
    bar = tqdm(
        total=total,
        initial=trainer.step_count,
        disable=not cfg.progress,
        desc=f"sae {kind} ({len(saes)} {_arch_label(archs)} SAEs)",
        unit="step",
    )
    with bar:
        for step in range(trainer.step_count, total):
            rows = source.rows(plan.batches[step])
            xs = {n: rows[n] / scales[n] for n in saes}
            stats = trainer.step(xs)
            loss = sum(s["loss"] for s in stats.values())
            history.append(loss)
            l0 = sum(s["l0"] for s in stats.values()) / len(stats)
            bar.set_postfix(loss=f"{loss:.4g}", L0=f"{l0:.1f}", refresh=False)
            bar.update(1)
            if on_step is not None:
                on_step(step, stats)
            if (step + 1) % cfg.checkpoint_every == 0 and step + 1 < total:
                torch_save(
                    {
                        "key": key,
                        "trainer": trainer.state_dict(),
                        "scales": scales,
                        "history": history,
                        "torch_rng": torch.get_rng_state(),
                    },
                    ckpt_file,
                )
    return _finish(lm, saes, trainer, scales, cfg, out_dir, key, kind, plan, tokens, history, stats)


def _arch_of(saes: SAESet, name: str, cfg: FitConfig) -> ArchConfig | None:
    """The architecture settings SAE `name` trains with: `cfg.arch`, else the ones its
    config.json records, else None (its class's reference defaults)."""
    if cfg.arch is not None:
        return cfg.arch
    recorded = saes.configs.get(name, {}).get("trainer", {}).get("arch")
    if not recorded:
        return None
    return from_mapping(ArchConfig, recorded, where=f"config.json of {name}: trainer.arch")


def _arch_label(archs: dict[str, ArchConfig]) -> str:
    return "/".join(sorted({a.name for a in archs.values()}))


def _finish(lm, saes, trainer, scales, cfg, out_dir, key, kind, plan, tokens, history, stats):
    raw, configs = {}, {}
    for n, ae in saes.items():
        folded = copy.deepcopy(ae).cpu()
        folded.scale_biases(scales[n])  # back to raw activations: f_raw = s * f
        raw[n] = folded
        spec = saes.spec(n)
        configs[n] = {
            "trainer": {
                "trainer_class": f"ssae.{kind}",
                "arch": asdict(trainer.state[n].arch),
                "lr": cfg.lr,
                "l1_penalty": trainer.l1[n],
                "l1_penalty_units": "x / activation_scale (E||x/s||^2 = d when measured)",
                "activation_scale": scales[n],
                "tilt": cfg.tilt,
                "steps": len(plan.batches),
                "n_tokens": plan.n_tokens,
                "seed": cfg.seed,
                "layer": spec.layer,
                "lm_name": lm.name,
                "submodule_name": n,
            },
            "buffer": {
                "ctx_len": tokens.ctx_len,
                "batch_docs": cfg.batch_docs,
                "source": tokens.source,
            },
        }
    meta = {
        "complete": True,
        "key": key,
        "kind": kind,
        "model": lm.name,
        "config": asdict(cfg),
        "steps": len(plan.batches),
        "n_tokens": plan.n_tokens,
        "history": history,
        "final": stats,
    }
    result = SAESet(raw, saes.specs, configs, meta)
    result.save(out_dir, meta=meta)
    return result.to(lm.device)


def _trained_with(saes: SAESet, name: str) -> tuple[float | None, float | None]:
    """(l1_penalty, activation_scale) from the SAE's config.json, None where absent."""
    trainer = saes.configs.get(name, {}).get("trainer", {})
    l1, scale = trainer.get("l1_penalty"), trainer.get("activation_scale")
    return (None if l1 is None else float(l1), None if scale is None else float(scale))


def _l1_coefficients(saes: SAESet, cfg: FitConfig, scales: dict[str, float]) -> dict[str, float]:
    """lambda per SAE. An inherited coefficient is converted to the scale used now: the raw
    objective is s^2 (||x/s - x_hat/s||^2 + lambda_s ||f/s||_1) = ||x - x_hat||^2 + lambda_s s ||f||_1,
    so lambda_raw = lambda_s * s and lambda_now = lambda_s * s_then / s_now."""
    if cfg.l1 is not None:
        return {n: float(cfg.l1) for n in saes}
    out = {}
    for n in saes:
        if not saes[n].uses_l1:
            out[n] = 0.0
            continue
        l1, then = _trained_with(saes, n)
        out[n] = 0.1 if l1 is None else l1 * (then or 1.0) / scales[n]
    return out


def _initial_scales(source, saes, tokens, plan, cfg, fresh) -> dict[str, float]:
    """Per-submodule scale s (and, for fresh SAEs, b_dec = mean of x) from the first batches.

    Finetuning keeps the scale an SAE was trained with when it is recorded; with `normalize`
    None (auto) an SAE without one keeps its own raw units (s = 1), with True it gets one
    measured on the data, and with False every s is 1."""
    known = {n: _trained_with(saes, n)[1] for n in saes}
    if not fresh:
        if cfg.normalize is False:
            return {n: 1.0 for n in saes}
        if cfg.normalize is None or all(known.values()):
            return {n: known[n] or 1.0 for n in saes}
    sample: dict[str, list[torch.Tensor]] = {n: [] for n in saes}
    seen = 0
    one_epoch = math.ceil(len(tokens) / cfg.batch_docs)  # never read a document twice
    for rows in plan.batches[:one_epoch]:
        acts = source.rows(rows)
        for n in saes:
            sample[n].append(acts[n])
        seen += int(tokens.lengths[rows].sum())
        if seen >= _SCALE_TOKENS:
            break
    xs = {n: torch.cat(v) for n, v in sample.items()}
    if not fresh:  # normalize=True: measure only the scales that were never recorded
        return {n: known[n] or activation_scale(xs[n]) for n in saes}
    with torch.no_grad():
        for n, ae in saes.items():
            if ae.decoder_bias.requires_grad:  # a fixed (zero) decoder bias stays fixed
                ae.decoder_bias.copy_(xs[n].mean(0))  # raw space; scale_biases(1/s) follows
    return {n: activation_scale(xs[n]) if cfg.normalize else 1.0 for n in saes}


class _Source:
    """Training rows [n_real_tokens, d] per submodule of a batch of documents: the activations
    x (one forward pass, or from an ActivationCache), or with a `base` set its reconstruction
    error x - base[name](x)."""

    def __init__(self, lm, specs, tokens: TokenDataset, base: SAESet | None, cfg: FitConfig):
        self.lm, self.specs, self.tokens, self.base = lm, specs, tokens, base
        cached = cfg.cache_activations
        self.cache = ActivationCache(lm, specs, tokens, cfg.batch_docs) if cached else None

    def rows(self, docs: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.cache is not None:
            rows = self.cache.rows(docs)
        else:
            batch = _batch(self.tokens, docs)
            acts = read_activations(self.lm, self.specs, batch)
            keep = batch["attention_mask"].bool().to(self.lm.device)
            rows = {n: a[keep] for n, a in acts.items()}
        if self.base is not None:
            with torch.no_grad():
                rows = {n: x - self.base[n](x) for n, x in rows.items()}
        return rows


def _batch(tokens: TokenDataset, rows: torch.Tensor) -> dict[str, torch.Tensor]:
    width = int(tokens.lengths[rows].max())
    return {
        "input_ids": tokens.input_ids[rows, :width].long(),
        "attention_mask": tokens.attention_mask(rows)[:, :width],
    }


def _check_tokens(lm: LoadedModel, tokens: TokenDataset) -> None:
    tokens.check_vocabulary(lm.model.config.vocab_size, lm.name)
