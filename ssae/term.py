"""Tilted empirical risk (TERM, Li et al. 2021) over per-token SAE losses.

Given per-token losses l_1..l_N of a batch (for an SAE, l_i = ||x_i - x_hat_i||^2 + lambda ||f_i||_1),
the t-tilted risk is

    R_t(l) = (1/t) log( (1/N) sum_i exp(t l_i) ) = (logsumexp(t l) - log N) / t.

It interpolates between the mean (t -> 0, plain ERM) and the maximum (t -> +inf), and its gradient
is a softmax-weighted average of the per-token gradients: dR_t/dl_i = softmax(t l)_i. Positive
t up-weights the worst-reconstructed tokens, which the SSAE paper uses to help rare concepts
(t = 500 and t = 1e9).

Numerics: t l overflows exp() in any precision for t = 1e9, so the value is computed with
logsumexp (which subtracts the maximum) in float64; t * l for l up to 1e3 is then ~1e12, well
inside float64, and the division by t keeps about 1e-4 / t absolute precision. At t = 0 the exact
mean is returned (not a limit), so ERM is bit-for-bit the usual mean loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ssae.errors import ConfigError


def tilted_risk(losses: torch.Tensor, tilt: float) -> torch.Tensor:
    """R_t of a 1-d tensor of losses; the result has the dtype of `losses`."""
    if losses.ndim != 1 or losses.numel() == 0:
        raise ConfigError(
            f"tilted_risk needs a non-empty 1-d tensor, got shape {tuple(losses.shape)}"
        )
    if tilt == 0:
        return losses.mean()
    if not math.isfinite(tilt):
        raise ConfigError(f"tilt must be finite, got {tilt}")
    wide = losses.double()
    value = (torch.logsumexp(tilt * wide, dim=0) - math.log(wide.numel())) / tilt
    return value.to(losses.dtype)


@dataclass(frozen=True)
class TiltedLoss:
    """Aggregate per-token losses with tilt t (t = 0: the mean, i.e. ERM)."""

    tilt: float = 0.0
    """TERM tilt t; 0 is ERM, large positive values approach the maximum loss of the batch."""

    def __post_init__(self):
        if not math.isfinite(self.tilt):
            raise ConfigError(f"tilt must be finite, got {self.tilt}")

    def __call__(self, losses: torch.Tensor) -> torch.Tensor:
        return tilted_risk(losses.reshape(-1), self.tilt)

    def weights(self, losses: torch.Tensor) -> torch.Tensor:
        """dR_t/dl: softmax(t l) (uniform 1/N at t = 0)."""
        flat = losses.reshape(-1).double()
        if self.tilt == 0:
            return torch.full_like(flat, 1.0 / flat.numel()).to(losses.dtype)
        return torch.softmax(self.tilt * flat, dim=0).to(losses.dtype)
