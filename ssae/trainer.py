"""One optimisation step for many ReLU SAEs at once (one per submodule).

Each SAE minimises, over the real (non-pad) tokens x_1..x_N of a batch, the tilted risk of its
per-token losses (Bricken et al. 2023; TERM, Li et al. 2021):

    l_i = ||x_i - x_hat_i||^2 + lambda * ||f_i||_1,      loss = R_t(l_1..l_N)   (see ssae.term),

with every decoder column kept at unit norm, as in dictionary_learning's ConstrainedAdam: the
gradient component parallel to each column is removed before the Adam step and the columns are
renormalised after it (otherwise the L1 penalty could be evaded by shrinking f and growing W_dec).

All SAEs share one Adam optimiser (one fused update over all parameters); since no parameter is
shared this is the same as optimising each SAE separately. Schedules: linear learning-rate warm-up, optional linear
decay at the end, linear warm-up of lambda. Optional adaptive L1 steers each SAE towards a target
L0 with a multiplicative controller, lambda <- lambda * clip((L0 / target)^rate, 0.8, 1.25).

Dead features (no activation for `dead_tokens` tokens) can be resampled as in Bricken et al.: the
encoder row and decoder column are pointed at a batch input drawn with probability proportional
to its squared reconstruction loss, the encoder row scaled to 0.2 x the mean alive row norm, its
bias zeroed, and the feature's Adam moments reset.

The trainer works on activations divided by a per-submodule scale s (see ssae.train); it never
sees the model. Its whole state (SAEs, Adam, lambda, dead counters, sampling RNG) round-trips
through `state_dict` so an interrupted run resumes bit-identically.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F

from ssae.dictionary import AutoEncoder
from ssae.errors import CheckpointError, ToolkitError
from ssae.term import TiltedLoss


class MultiSAETrainer:
    """Adam on several AutoEncoders (name -> SAE) with the losses and constraints above."""

    def __init__(
        self,
        saes: Mapping[str, AutoEncoder],
        lr: float,
        l1: float | Mapping[str, float],
        total_steps: int,
        tilt: float = 0.0,
        warmup_steps: int = 0,
        decay_start: float | None = None,
        l1_warmup_steps: int = 0,
        target_l0: float | None = None,
        l1_adapt_rate: float = 0.05,
        resample_every: int | None = None,
        dead_tokens: int = 100_000,
        seed: int = 0,
    ):
        for name, ae in saes.items():
            if not isinstance(ae, AutoEncoder):
                raise ToolkitError(
                    f"dictionary {name} is a {type(ae).__name__}; training and finetuning support "
                    "ReLU AutoEncoder dictionaries only"
                )
        self.saes = dict(saes)
        self.base_lr = lr
        self.total_steps = max(1, total_steps)
        self.objective = TiltedLoss(tilt)
        self.warmup_steps = warmup_steps
        self.decay_start = decay_start
        self.l1_warmup_steps = l1_warmup_steps
        self.target_l0 = target_l0
        self.l1_adapt_rate = l1_adapt_rate
        self.resample_every = resample_every
        self.dead_tokens = dead_tokens
        self.l1 = {n: float(l1[n] if isinstance(l1, Mapping) else l1) for n in self.saes}
        self.step_count = 0
        self.since_fired = {
            n: torch.zeros(ae.dict_size, dtype=torch.long, device=ae.bias.device)
            for n, ae in self.saes.items()
        }
        self.generator = torch.Generator().manual_seed(seed)
        params = [p for ae in self.saes.values() for p in ae.parameters()]
        self.optimizer = _adam(params, lr)
        for ae in self.saes.values():
            ae.normalize_decoder()

    # schedules
    def lr_at(self, step: int) -> float:
        scale = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps else 1.0
        if self.decay_start is not None:
            start = int(self.decay_start * self.total_steps)
            if step >= start:
                scale *= max(0.0, (self.total_steps - step) / max(1, self.total_steps - start))
        return self.base_lr * scale

    def l1_scale_at(self, step: int) -> float:
        return min(1.0, (step + 1) / self.l1_warmup_steps) if self.l1_warmup_steps else 1.0

    def per_token_losses(
        self, name: str, x: torch.Tensor, l1_scale: float = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(l_i, squared error_i, features) of one SAE on rows x [N, d]."""
        ae = self.saes[name]
        # W_enc (x - b_dec) + b_enc computed as W_enc x + (b_enc - W_enc b_dec): the same value,
        # but the gradient of b_dec through the encoder becomes a matrix-vector product instead
        # of an [N, n] x [n, d] matrix product (one of six large matmuls per step).
        w = ae.encoder.weight
        f = torch.relu(F.linear(x, w, ae.encoder.bias - w @ ae.bias))
        x_hat = ae.decode(f)
        sq = (x_hat - x).pow(2).sum(-1)
        return sq + (self.l1[name] * l1_scale) * f.sum(-1), sq, f

    def step(self, xs: Mapping[str, torch.Tensor]) -> dict[str, dict[str, float]]:
        """One Adam step of every SAE on its rows xs[name] [N, d]; returns per-SAE statistics."""
        step = self.step_count
        lr = self.lr_at(step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        l1_scale = self.l1_scale_at(step)
        self.optimizer.zero_grad(set_to_none=True)
        stats: dict[str, dict[str, float]] = {}
        fired = {}
        for name in self.saes:
            x = xs[name]
            losses, sq, f = self.per_token_losses(name, x, l1_scale)
            loss = self.objective(losses)
            # no parameter is shared, so backward per SAE equals backward of the sum, and only
            # one SAE's [N, n] activations are alive at a time
            loss.backward()
            with torch.no_grad():
                active = f > 0
                fired[name] = active.any(0)
                stats[name] = {
                    "loss": float(loss.detach()),
                    "mse": float(sq.mean()),
                    "l0": float(active.sum(-1).float().mean()),
                    "l1_coef": self.l1[name],
                }
        self._constrain_gradients()
        self.optimizer.step()
        with torch.no_grad():
            for ae in self.saes.values():
                w = ae.decoder.weight
                w.div_(_column_norms(w).clamp_min(1e-12))
        for name in self.saes:
            counter = self.since_fired[name]
            counter += xs[name].shape[0]
            counter[fired[name]] = 0
        if self.target_l0 is not None and step >= self.l1_warmup_steps:
            for name in self.saes:
                ratio = (max(stats[name]["l0"], 1e-3) / self.target_l0) ** self.l1_adapt_rate
                self.l1[name] *= min(1.25, max(0.8, ratio))
        self.step_count += 1
        if self.resample_every and self.step_count % self.resample_every == 0:
            for name in self.saes:
                stats[name]["resampled"] = self.resample_dead(name, xs[name])
        return stats

    @torch.no_grad()
    def _constrain_gradients(self) -> None:
        for ae in self.saes.values():
            w, g = ae.decoder.weight, ae.decoder.weight.grad
            if g is None:
                continue
            unit = w / _column_norms(w).clamp_min(1e-12)
            g -= (g * unit).sum(0, keepdim=True) * unit

    @torch.no_grad()
    def resample_dead(self, name: str, x: torch.Tensor) -> int:
        """Re-point features dead for `dead_tokens` tokens at badly reconstructed inputs of x."""
        ae = self.saes[name]
        dead = self.since_fired[name] >= self.dead_tokens
        n_dead = int(dead.sum())
        if n_dead == 0 or n_dead == ae.dict_size:
            return 0
        sq = (ae(x) - x).pow(2).sum(-1)
        if float(sq.sum()) <= 0:
            return 0
        n = min(n_dead, x.shape[0])
        rows = torch.multinomial(
            sq.pow(2).cpu().double(), n, replacement=False, generator=self.generator
        )
        idx = dead.nonzero().squeeze(-1)[:n]
        picked = x[rows.to(x.device)] - ae.bias
        unit = picked / picked.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        alive_norm = ae.encoder.weight[~dead].norm(dim=-1).mean()
        ae.encoder.weight[idx] = unit * alive_norm * 0.2
        ae.encoder.bias[idx] = 0.0
        ae.decoder.weight[:, idx] = unit.T
        for p, rows_of in ((ae.encoder.weight, 0), (ae.encoder.bias, 0), (ae.decoder.weight, 1)):
            state = self.optimizer.state.get(p)
            if not state:
                continue
            for key in ("exp_avg", "exp_avg_sq"):
                state[key].index_fill_(rows_of, idx, 0.0)
        self.since_fired[name][idx] = 0
        return n

    # checkpointing
    def state_dict(self) -> dict:
        return {
            "step": self.step_count,
            "saes": {
                n: {k: v.detach().clone() for k, v in ae.state_dict().items()}
                for n, ae in self.saes.items()
            },
            "widths": {n: [ae.activation_dim, ae.dict_size] for n, ae in self.saes.items()},
            "optimizer": self.optimizer.state_dict(),
            "l1": dict(self.l1),
            "since_fired": {n: c.clone() for n, c in self.since_fired.items()},
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict, file: str = "checkpoint") -> None:
        names = list(state.get("widths", {}))
        if names != list(self.saes):
            raise CheckpointError(
                f"{file}: checkpoint covers submodules {names}, this run trains {list(self.saes)}; "
                "delete it or use another output folder"
            )
        for n, (d, width) in state["widths"].items():
            ae = self.saes[n]
            if (d, width) != (ae.activation_dim, ae.dict_size):
                raise CheckpointError(
                    f"{file}: {n} has input size {d} and width {width} in the checkpoint but "
                    f"{ae.activation_dim} and {ae.dict_size} here; delete it or use another "
                    "output folder"
                )
        for n, ae in self.saes.items():
            ae.load_state_dict(state["saes"][n])
        self.optimizer.load_state_dict(state["optimizer"])
        self.l1 = {n: float(v) for n, v in state["l1"].items()}
        for n, c in state["since_fired"].items():
            self.since_fired[n].copy_(c)
        self.generator.set_state(state["generator"])
        self.step_count = int(state["step"])


def _column_norms(w: torch.Tensor) -> torch.Tensor:
    # sqrt of a column sum of squares: ~6x faster on CPU than w.norm(dim=0), a strided reduction
    return (w * w).sum(0, keepdim=True).sqrt()


def _adam(params: list[torch.nn.Parameter], lr: float) -> torch.optim.Adam:
    """Adam with the fused kernel where torch has one for these tensors (one pass over each
    parameter instead of ~7; the update is memory-bound for wide SAEs), else the foreach one."""
    try:
        return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), fused=True)
    except (RuntimeError, ValueError):
        return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), foreach=True)


def activation_scale(x: torch.Tensor) -> float:
    """s with E||x / s||^2 = d: the root mean square of one coordinate over rows x [N, d]."""
    ms = float(x.double().pow(2).mean())
    return math.sqrt(ms) if ms > 0 else 1.0
