"""OrtSAE (Korznikov et al. 2025, arXiv 2509.22033): BatchTopK plus a penalty on decoder directions
that are too alike.

Our reading of the paper (its full text and code were not reachable from this machine; the form
follows the abstract's description - "penalizes high pairwise cosine similarity between SAE
features ... scaling linearly with the SAE size" - and the coefficients are options): each step the
n features are randomly permuted and split into K = ceil(n / chunk) chunks; within chunk C_k every
feature i contributes the largest squared cosine similarity to another feature of its chunk,

    L_orth = (1/n) sum_k sum_{i in C_k} max_{j in C_k, j != i} cos(w_i, w_j)^2,

and the loss is BatchTopK's plus gamma * L_orth (gamma = `ortho_coef`, chunk = `ortho_chunk`).
The cost is O(n * chunk * d), linear in n, where the full pairwise penalty is O(n^2 d). The random
split comes from the SAE's own generator, so it is reproducible and independent of other SAEs.

At inference an OrtSAE is a BatchTopK SAE, and it is saved as one (`BatchTopKSAE`, loadable by
dictionary_learning); config.json records the architecture.
"""

from __future__ import annotations

import math

import torch

from ssae.archs.base import LossContext, TrainingLoss
from ssae.archs.batchtopk import BatchTopKSAE


def orthogonality_penalty(
    directions: torch.Tensor, chunk: int, generator: torch.Generator | None
) -> torch.Tensor:
    """L_orth of unit directions [n, d] (see the module docstring)."""
    n = directions.shape[0]
    order = torch.randperm(n, generator=generator).to(directions.device)
    n_chunks = math.ceil(n / chunk)
    total = directions.new_zeros(())
    for part in order.tensor_split(n_chunks):
        if part.numel() < 2:
            continue
        w = directions[part]
        w = w / w.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        off_diagonal = 1 - torch.eye(part.numel(), device=w.device, dtype=w.dtype)
        cos2 = (w @ w.T).pow(2) * off_diagonal
        total = total + cos2.max(dim=1).values.sum()
    return total / n


class OrtSAE(BatchTopKSAE):
    """BatchTopK with the chunked orthogonality penalty (see module docstring)."""

    arch = "ortsae"

    def training_loss(self, x: torch.Tensor, ctx: LossContext) -> TrainingLoss:
        loss = super().training_loss(x, ctx)
        ortho = orthogonality_penalty(self.decoder.weight.T, ctx.arch.ortho_chunk, ctx.generator)
        loss.batch = loss.batch + ctx.arch.ortho_coef * ortho
        return loss
