"""TopK SAE (Gao et al. 2024), in dictionary_learning's `AutoEncoderTopK` layout.

    f = TopK_k(ReLU(W_enc (x - b_dec) + b_enc)),   x_hat = W_dec f + b_dec,

only the k largest pre-activations of each token survive, so the sparsity is set by k, not by a
penalty. Training (dictionary_learning's TopKTrainer): l_i = ||x_i - x_hat_i||^2 per token, plus
alpha * AuxK on the batch (the top-k_aux dead latents, k_aux = d / 2, reconstruct the residual),
gradient norm clipped at 1. The trainer also keeps an EMA of the mean (over tokens) smallest kept
activation as `threshold`; with `use_threshold` the dictionary encodes f = f_relu 1[f_relu >
threshold] instead of TopK (per token independent of k).

State dict: `encoder.weight` [n, d], `encoder.bias` [n], `decoder.weight` [d, n], `b_dec` [d],
and the buffers `k` (int) and `threshold` (float; -1 when unset).
"""

from __future__ import annotations

import torch
from torch import nn

from ssae.arch_config import ArchConfig
from ssae.archs.base import (
    LinearDecoder,
    LossContext,
    TrainableDictionary,
    TrainingLoss,
    arch_with_k,
    auxk_loss,
    random_directions,
)
from ssae.errors import ConfigError


class TopKAutoEncoder(LinearDecoder, TrainableDictionary):
    """TopK SAE (see module docstring)."""

    dict_class = "AutoEncoderTopK"
    arch = "topk"
    clip_grad_norm = 1.0

    def __init__(
        self,
        activation_dim: int,
        dict_size: int,
        k: int,
        use_threshold: bool = False,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        if not 1 <= k <= dict_size:
            raise ConfigError(f"TopK needs 1 <= k <= dict_size, got k={k}, dict_size={dict_size}")
        self.activation_dim = activation_dim
        self.dict_size = dict_size
        self.use_threshold = use_threshold
        self.register_buffer("k", torch.tensor(k, dtype=torch.int))
        self.register_buffer("threshold", torch.tensor(-1.0))
        self.encoder = nn.Linear(activation_dim, dict_size, bias=True)
        self.decoder = nn.Linear(dict_size, activation_dim, bias=False)
        self.b_dec = nn.Parameter(torch.zeros(activation_dim))
        w = random_directions(activation_dim, dict_size, generator)
        with torch.no_grad():
            self.decoder.weight.copy_(w)
            self.encoder.weight.copy_(w.T)
            self.encoder.bias.zero_()

    @classmethod
    def create(cls, d, n, arch, generator):
        return cls(d, n, arch.k, generator=generator)

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        """ReLU(W_enc (x - b_dec) + b_enc) [..., n], before any selection."""
        return torch.relu(self.encoder(x - self.b_dec))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        acts = self.pre_activations(x)
        if self.use_threshold:
            return acts * (acts > self.threshold)
        top = acts.topk(int(self.k), dim=-1, sorted=False)
        return torch.zeros_like(acts).scatter_(-1, top.indices, top.values)

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        return self.decoder(f) + self.b_dec

    def set_features(self, x: torch.Tensor, idx: torch.Tensor, values) -> torch.Tensor:
        if not self.use_threshold:  # TopK: whether a feature survives depends on all of them
            return super().set_features(x, idx, values)
        # With the threshold each feature is its own: encode only the edited ones (as ReLU does).
        pre = torch.relu((x - self.b_dec) @ self.encoder.weight[idx].T + self.encoder.bias[idx])
        f_idx = pre * (pre > self.threshold)
        return x + (values - f_idx) @ self.decoder.weight[:, idx].T

    @property
    def decoder_bias(self) -> nn.Parameter:
        return self.b_dec

    def arch_config(self, base: ArchConfig | None = None) -> ArchConfig:
        return arch_with_k(self, base)

    def training_loss(self, x: torch.Tensor, ctx: LossContext) -> TrainingLoss:
        pre = self.pre_activations(x)
        top = pre.topk(int(self.k), dim=-1, sorted=False)
        f = torch.zeros_like(pre).scatter_(-1, top.indices, top.values)
        err = x - self.decode(f)
        sq = err.pow(2).sum(-1)
        return TrainingLoss(
            per_token=sq,
            sq=sq,
            f=f,
            batch=ctx.arch.auxk_alpha * self._auxk(err, f, pre, ctx),
            extras={"top": top.values},
        )

    def _auxk(self, err, f, pre, ctx) -> torch.Tensor:
        """AuxK on the residual x - x_hat of the main reconstruction (one decode serves both)."""
        return auxk_loss(
            err.detach(), pre, ctx.dead_after(f), self.decoder, self.activation_dim // 2
        )

    @torch.no_grad()
    def after_step(self, loss: TrainingLoss, ctx: LossContext) -> None:
        if ctx.step <= ctx.threshold_start_step:
            return
        # The reference's EMA of the mean over tokens of each token's smallest kept activation.
        top = loss.extras["top"].clone()
        top[top <= 0] = torch.inf
        lows = top.min(dim=1).values.float()
        lows = lows[torch.isfinite(lows)]  # a token with no positive activation has no minimum
        if lows.numel() == 0:
            return
        low = lows.mean()
        beta = ctx.arch.threshold_beta
        self.threshold.copy_(
            low if self.threshold < 0 else beta * self.threshold + (1 - beta) * low
        )

    @torch.no_grad()
    def scale_biases(self, scale: float) -> None:
        self.encoder.bias.mul_(scale)
        self.b_dec.mul_(scale)
        if self.threshold >= 0:
            self.threshold.mul_(scale)

    @torch.no_grad()
    def slice(self, k: int) -> TopKAutoEncoder:
        self._check_k(k)
        out = type(self)(self.activation_dim, k, min(int(self.k), k), self.use_threshold)
        out.to(self.encoder.weight)
        out.encoder.weight.copy_(self.encoder.weight[:k])
        out.encoder.bias.copy_(self.encoder.bias[:k])
        out.decoder.weight.copy_(self.decoder.weight[:, :k])
        out.b_dec.copy_(self.b_dec)
        out.threshold.copy_(self.threshold)
        return out
