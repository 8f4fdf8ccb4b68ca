"""Matryoshka-BatchTopK SAE (Bussmann et al. 2025; Nabeshima 2024), in dictionary_learning's
`MatryoshkaBatchTopKSAE` layout.

The dictionary is split into nested groups G_1, ..., G_m (sizes `group_sizes`); the prefix of the
first i groups must reconstruct the input on its own. With BatchTopK features f (k per token on
average over the batch) and x_hat_i = b_dec + sum_{g <= i} f_g W_dec,g, the per-token loss is

    l = (1/m) sum_i w_i ||x - x_hat_i||^2        (w_i = 1/m by default, as the reference),

plus alpha * AuxK on the full reconstruction's residual; gradient norm clipped at 1; inference
uses the BatchTopK threshold. Early groups learn general directions that later ones refine, so
cutting the dictionary after a group (`slice` at a group boundary) is the natural compression.

State dict: `W_enc` [d, n], `b_enc` [n], `W_dec` [n, d], `b_dec` [d], and the buffers `k`,
`threshold` and `group_sizes`.
"""

from __future__ import annotations

import torch
from torch import nn

from ssae.arch_config import ArchConfig
from ssae.archs.base import (
    LossContext,
    MatrixDecoder,
    TrainableDictionary,
    TrainingLoss,
    arch_with_k,
    auxk_loss,
    batch_topk,
    ema_min_activation,
    random_directions,
)
from ssae.errors import ConfigError


class MatryoshkaBatchTopKSAE(MatrixDecoder, TrainableDictionary):
    """Matryoshka-BatchTopK SAE (see module docstring)."""

    dict_class = "MatryoshkaBatchTopKSAE"
    arch = "matryoshka"
    clip_grad_norm = 1.0

    def __init__(
        self,
        activation_dim: int,
        dict_size: int,
        k: int,
        group_sizes: list[int],
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        if sum(group_sizes) != dict_size or min(group_sizes) < 1:
            raise ConfigError(
                f"matryoshka group sizes {group_sizes} must be >= 1 and sum to {dict_size}"
            )
        if not 1 <= k <= dict_size:
            raise ConfigError(f"matryoshka needs 1 <= k <= dict_size, got k={k}")
        self.activation_dim = activation_dim
        self.dict_size = dict_size
        self.register_buffer("k", torch.tensor(k, dtype=torch.int))
        self.register_buffer("threshold", torch.tensor(-1.0))
        self.register_buffer("group_sizes", torch.tensor(group_sizes))
        w = random_directions(activation_dim, dict_size, generator).T.contiguous()
        self.W_enc = nn.Parameter(w.T.clone())
        self.b_enc = nn.Parameter(torch.zeros(dict_size))
        self.W_dec = nn.Parameter(w)
        self.b_dec = nn.Parameter(torch.zeros(activation_dim))

    @classmethod
    def create(cls, d, n, arch, generator):
        return cls(d, n, arch.k, arch.group_sizes(n), generator=generator)

    @property
    def prefixes(self) -> list[int]:
        """Feature counts of the nested prefixes: cumulative group sizes."""
        return torch.cumsum(self.group_sizes, 0).tolist()

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu((x - self.b_dec) @ self.W_enc + self.b_enc)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        acts = self.pre_activations(x)
        return acts * (acts > self.threshold)

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        return f @ self.W_dec + self.b_dec

    def set_features(self, x: torch.Tensor, idx: torch.Tensor, values) -> torch.Tensor:
        # With the threshold each feature is its own: encode only the edited ones.
        pre = torch.relu((x - self.b_dec) @ self.W_enc[:, idx] + self.b_enc[idx])
        f_idx = pre * (pre > self.threshold)
        return x + (values - f_idx) @ self.W_dec[idx]

    def arch_config(self, base: ArchConfig | None = None) -> ArchConfig:
        return arch_with_k(self, base)

    def training_loss(self, x: torch.Tensor, ctx: LossContext) -> TrainingLoss:
        pre = self.pre_activations(x)
        f = batch_topk(pre, int(self.k))
        sizes = self.group_sizes.tolist()
        # The reference's default weight is 1 / m per group, on top of the mean over groups.
        weights = ctx.arch.group_weights or (1.0 / len(sizes),) * len(sizes)
        weights = weights[: len(sizes)]  # a sliced dictionary keeps its first groups' weights
        x_hat = self.b_dec.expand_as(x)
        per_token = x.new_zeros(x.shape[0])
        for f_g, w_g, weight in zip(f.split(sizes, 1), self.W_dec.split(sizes, 0), weights):
            x_hat = x_hat + f_g @ w_g
            per_token = per_token + weight * (x - x_hat).pow(2).sum(-1)
        per_token = per_token / len(sizes)
        sq = (x - x_hat).pow(2).sum(-1)
        residual = (x - x_hat).detach()
        aux = auxk_loss(
            residual, pre, ctx.dead_after(f), lambda a: a @ self.W_dec, self.activation_dim // 2
        )
        return TrainingLoss(per_token=per_token, sq=sq, f=f, batch=ctx.arch.auxk_alpha * aux)

    def after_step(self, loss: TrainingLoss, ctx: LossContext) -> None:
        if ctx.step > ctx.threshold_start_step:
            ema_min_activation(self.threshold, loss.f.detach(), ctx.arch.threshold_beta)

    @torch.no_grad()
    def scale_biases(self, scale: float) -> None:
        self.b_enc.mul_(scale)
        self.b_dec.mul_(scale)
        if self.threshold >= 0:
            self.threshold.mul_(scale)

    @torch.no_grad()
    def slice(self, k: int) -> MatryoshkaBatchTopKSAE:
        """The first k features; the groups inside the cut are kept, a group it splits is cut."""
        self._check_k(k)
        sizes, kept = [], 0
        for size in self.group_sizes.tolist():
            if kept >= k:
                break
            sizes.append(min(size, k - kept))
            kept += sizes[-1]
        out = type(self)(self.activation_dim, k, min(int(self.k), k), sizes).to(self.W_enc)
        out.W_enc.copy_(self.W_enc[:, :k])
        out.b_enc.copy_(self.b_enc[:k])
        out.W_dec.copy_(self.W_dec[:k])
        out.b_dec.copy_(self.b_dec)
        out.threshold.copy_(self.threshold)
        return out
