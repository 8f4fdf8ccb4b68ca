"""BatchTopK SAE (Bussmann et al. 2024), in dictionary_learning's `BatchTopKSAE` layout.

Training keeps the k * N largest ReLU pre-activations of the whole batch of N tokens (k per token
on average, more where a token needs them), with TopK's loss: ||x - x_hat||^2 per token plus
alpha * AuxK on the batch, gradient norm clipped at 1. At inference a batch does not exist, so the
dictionary encodes with one threshold, f = f_relu 1[f_relu > theta], where theta is the EMA (decay
beta) of the smallest activation the batch top-k kept, updated after the warm-up.

State dict: the TopK layout (`encoder.*`, `decoder.weight`, `b_dec`, `k`, `threshold`); the class
name in config.json (`BatchTopKSAE`) tells the two apart.
"""

from __future__ import annotations

import torch

from ssae.archs.base import (
    LossContext,
    TrainingLoss,
    batch_topk,
    ema_min_activation,
)
from ssae.archs.topk import TopKAutoEncoder


class BatchTopKSAE(TopKAutoEncoder):
    """BatchTopK SAE (see module docstring)."""

    dict_class = "BatchTopKSAE"
    arch = "batchtopk"

    def __init__(self, activation_dim, dict_size, k, use_threshold=True, generator=None):
        super().__init__(activation_dim, dict_size, k, use_threshold, generator)

    def training_loss(self, x: torch.Tensor, ctx: LossContext) -> TrainingLoss:
        pre = self.pre_activations(x)
        f = batch_topk(pre, int(self.k))
        err = x - self.decode(f)
        sq = err.pow(2).sum(-1)
        aux = ctx.arch.auxk_alpha * self._auxk(err, f, pre, ctx)
        return TrainingLoss(per_token=sq, sq=sq, f=f, batch=aux)

    def after_step(self, loss: TrainingLoss, ctx: LossContext) -> None:
        if ctx.step > ctx.threshold_start_step:
            ema_min_activation(self.threshold, loss.f.detach(), ctx.arch.threshold_beta)
