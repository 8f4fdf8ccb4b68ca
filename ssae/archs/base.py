"""What an architecture gives the trainer: its training loss, and what it does after each step.

`ssae.trainer.MultiSAETrainer` knows no architecture by name. For every SAE it calls

    loss = sae.training_loss(x, ctx)             # per-token terms and batch terms
    objective = R_t(loss.per_token) + loss.batch  # TERM over per-token losses (ssae.term)

then removes the gradient component parallel to each decoder direction, clips the gradient norm
where the architecture's reference trainer does, takes an Adam step, renormalises the decoder
directions, and calls `sae.after_step(loss, ctx)` (e.g. BatchTopK's threshold EMA). Terms that are
per token (squared error, an L1 penalty) go under the tilt; terms defined on the whole batch
(AuxK, a batch L0 target, a penalty on the weights) are added after it, so ERM (t = 0) is exactly
the reference's mean loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar

import torch

from ssae.arch_config import ArchConfig
from ssae.dictionary import Dictionary


@dataclass
class LossContext:
    """What a training loss may read besides the inputs."""

    step: int
    """Index of the current step (0-based)."""
    arch: ArchConfig
    """The architecture's settings."""
    l1: float = 0.0
    """L1 coefficient, warm-up applied (L1 architectures)."""
    sparsity_scale: float = 1.0
    """Warm-up factor of the sparsity penalty in [0, 1] (JumpReLU's L0 loss)."""
    since_fired: torch.Tensor | None = None
    """[n] tokens since each feature last fired, before this batch (AuxK's dead latents)."""
    dead_tokens: int = 10_000_000
    """A feature is dead after this many tokens without firing."""
    generator: torch.Generator | None = None
    """The SAE's own random stream (OrtSAE's chunks); derived from (seed, submodule name)."""
    threshold_start_step: int = 0
    """Step after which threshold EMAs run."""

    def dead_after(self, f: torch.Tensor) -> torch.Tensor | None:
        """[n] bool: the features dead once this batch's features f [N, n] are counted (the
        reference counts the batch before it picks AuxK's dead latents)."""
        if self.since_fired is None:
            return None
        return (self.since_fired + f.shape[0] >= self.dead_tokens) & ~(f > 0).any(0)


@dataclass
class TrainingLoss:
    """An SAE's loss on a batch x [N, d], split as the trainer needs it."""

    per_token: torch.Tensor
    """[N] per-token losses, aggregated by the tilted risk."""
    sq: torch.Tensor
    """[N] squared reconstruction error ||x - x_hat||^2 (statistics)."""
    f: torch.Tensor
    """[N, n] the features used for the reconstruction (L0, which features fired)."""
    batch: torch.Tensor | float = 0.0
    """Batch-level terms added after the aggregation."""
    extras: dict = field(default_factory=dict)
    """Tensors an architecture's `after_step` needs again."""


class TrainableDictionary(Dictionary):
    """A dictionary the trainer can fit (see the module docstring)."""

    arch: ClassVar[str]
    """Registry name (`ssae.archs.ARCHS`)."""
    clip_grad_norm: ClassVar[float | None] = None
    """Gradient-norm clip of the reference trainer (None: no clipping)."""
    adam_betas: ClassVar[tuple[float, float]] = (0.9, 0.999)
    """Adam's betas in the reference trainer."""
    resamples: ClassVar[bool] = False
    """Dead features are resampled (Bricken et al.) when the fit asks for it."""
    uses_l1: ClassVar[bool] = False
    """The loss has an L1 coefficient (so adaptive L1 can steer it)."""

    @classmethod
    def create(
        cls, d: int, n: int, arch: ArchConfig, generator: torch.Generator
    ) -> TrainableDictionary:
        """A freshly initialised dictionary drawn from `generator` only."""
        raise NotImplementedError

    def training_loss(self, x: torch.Tensor, ctx: LossContext) -> TrainingLoss:
        raise NotImplementedError

    def after_step(self, loss: TrainingLoss, ctx: LossContext) -> None:
        """Updates outside the gradient step (default: none)."""

    @property
    def decoder_bias(self) -> torch.nn.Parameter:
        """b_dec [d], initialised at the mean input of a fresh SAE."""
        raise NotImplementedError

    @property
    def unit_decoder(self) -> tuple[torch.nn.Parameter, int] | None:
        """(decoder weight, the dimension its features run along) when its directions are kept
        at unit norm; None when the decoder is not trained."""
        raise NotImplementedError

    def arch_config(self, base: ArchConfig | None = None) -> ArchConfig:
        """This dictionary's architecture settings: `base` (or the defaults) with what the
        weights themselves fix (k, group sizes) filled in."""
        return base if base is not None and base.name == self.arch else ArchConfig(self.arch)


class LinearDecoder:
    """Decoder layout of dictionary_learning's ReLU and TopK classes: `decoder` = nn.Linear(n, d),
    one feature per column of `decoder.weight` [d, n]."""

    @property
    def decoder_directions(self) -> torch.Tensor:
        return self.decoder.weight.T

    @property
    def unit_decoder(self):
        w = self.decoder.weight
        return (w, 0) if w.requires_grad else None


class MatrixDecoder:
    """Decoder layout of the JumpReLU and Matryoshka classes: `W_dec` [n, d] and `b_dec` [d]."""

    @property
    def decoder_directions(self) -> torch.Tensor:
        return self.W_dec

    @property
    def decoder_bias(self) -> torch.nn.Parameter:
        return self.b_dec

    @property
    def unit_decoder(self):
        return self.W_dec, 1


def random_directions(d: int, n: int, generator: torch.Generator) -> torch.Tensor:
    """[d, n] columns drawn uniformly on the unit sphere."""
    w = torch.randn(d, n, generator=generator)
    return w / w.norm(dim=0, keepdim=True)


def auxk_loss(
    residual: torch.Tensor,
    pre: torch.Tensor,
    dead: torch.Tensor | None,
    decode_directions,
    k_aux: int,
) -> torch.Tensor:
    """AuxK (Gao et al. 2024, App. B.1): the top-k_aux *dead* latents of the ReLU pre-activations
    `pre` [N, n] reconstruct the detached `residual` x - x_hat through the decoder without its bias;
    the squared error is normalised by the residual's variance (OpenAI's normalisation).
    Zero when no latent is dead."""
    if dead is None or not bool(dead.any()):
        return residual.new_zeros(())
    k = min(k_aux, int(dead.sum()))
    latents = torch.where(dead[None], pre, -torch.inf)
    acts, idx = latents.topk(k, sorted=False)
    aux = torch.zeros_like(pre).scatter_(-1, idx, acts)
    err = (residual.float() - decode_directions(aux).float()).pow(2).sum(-1).mean()
    denom = (residual.float() - residual.mean(0, keepdim=True).float()).pow(2).sum(-1).mean()
    return (err / denom).nan_to_num(0.0)


def batch_topk(acts: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k * N largest entries of acts [N, n] over the whole batch, zero the rest."""
    flat = acts.flatten()
    top = flat.topk(min(k * acts.shape[0], flat.numel()), sorted=False)
    return torch.zeros_like(flat).scatter_(-1, top.indices, top.values).reshape(acts.shape)


@torch.no_grad()
def ema_min_activation(threshold: torch.Tensor, f: torch.Tensor, beta: float) -> None:
    """BatchTopK's inference threshold: an EMA of the smallest kept activation (in place)."""
    active = f[f > 0]
    low = active.min().float() if active.numel() else torch.zeros((), device=f.device)
    if threshold < 0:
        threshold.copy_(low)
    else:
        threshold.copy_(beta * threshold + (1 - beta) * low)


def arch_with_k(ae, base: ArchConfig | None) -> ArchConfig:
    """`base` (or the defaults) of a TopK-family dictionary's architecture with its own k."""
    if base is None or base.name != ae.arch:
        return ArchConfig(ae.arch, k=int(ae.k))
    return replace(base, k=int(ae.k))
