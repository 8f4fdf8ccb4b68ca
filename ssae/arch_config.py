"""`ArchConfig`: which SAE architecture a run trains, and the settings that belong to it.

The settings shared by every architecture (learning rate, token budget, warm-ups, tilt, the L1
coefficient of the L1 architectures, the L0 target) live in `ssae.fit_config.FitConfig`; this
class holds what only some architectures read. Every default is the one of the architecture's
reference implementation (dictionary_learning 0.1.0 trainers; OrtSAE: arXiv 2509.22033), except
where a field's docstring says otherwise and why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

from ssae.errors import ConfigError

ArchName = Literal[
    "relu", "random-decoder", "topk", "batchtopk", "jumprelu", "matryoshka", "ortsae"
]
ARCH_NAMES: tuple[str, ...] = get_args(ArchName)
TOPK_FAMILY = ("topk", "batchtopk", "matryoshka", "ortsae")
"""Architectures whose sparsity is a number of active features k."""


@dataclass(frozen=True)
class ArchConfig:
    """An SAE architecture and its own settings (see the module docstring)."""

    name: ArchName = "relu"
    """relu (ReLU + L1), random-decoder (ReLU + L1 with the decoder frozen at random unit
    directions), topk, batchtopk, jumprelu, matryoshka (Matryoshka-BatchTopK) or ortsae."""
    k: int | None = None
    """Active features per token (topk) or per token on average over a batch (batchtopk,
    matryoshka, ortsae); required by those, ignored by the others."""
    auxk_alpha: float = 1 / 32
    """Weight of the AuxK loss that revives dead latents (Gao et al. 2024; TopK family)."""
    threshold_beta: float = 0.999
    """EMA decay of the inference threshold (the minimum kept activation) of the TopK family."""
    threshold_start_step: int | None = None
    """Step after which the threshold EMA runs; None starts it half-way through the run. The
    reference starts it at step 1000 of runs of 10^5 steps, so its threshold averages the last
    ~1/(1 - beta) = 1000 steps of a converged SAE; in runs of ~1000 steps an EMA started after
    the warm-up would keep a third of its weight on the first steps' minimum."""
    bandwidth: float = 0.001
    """JumpReLU: width of the rectangle kernel of the straight-through estimator."""
    init_threshold: float = 0.001
    """JumpReLU: initial threshold of every feature (Rajamanoharan et al. 2024, App. I)."""
    target_l0: float | None = None
    """JumpReLU: the L0 its sparsity loss pulls the batch towards (required there)."""
    sparsity_coef: float = 1.0
    """JumpReLU: weight of the L0 loss c (L0 / target_l0 - 1)^2 (dictionary_learning's form)."""
    group_fractions: tuple[float, ...] = (1 / 16, 1 / 16, 1 / 8, 1 / 4, 1 / 2)
    """Matryoshka: the nested groups' shares of the dictionary (summing to 1); every prefix of
    whole groups reconstructs the input. The reference demo uses (1/32, 1/16, 1/8, 1/4, 17/32);
    these doubling prefixes (1/16, 1/8, 1/4, 1/2, 1) make 1/8 of the width, the compressed
    methods' cut, a prefix."""
    group_weights: tuple[float, ...] | None = None
    """Matryoshka: weight of each prefix's reconstruction loss; None weighs them equally."""
    ortho_coef: float = 0.25
    """OrtSAE: weight gamma of the orthogonality penalty (our reading of arXiv 2509.22033)."""
    ortho_chunk: int = 8192
    """OrtSAE: features per chunk; each step the features are randomly split into chunks of this
    size and each feature's largest squared cosine with another feature of its chunk is
    penalised (linear in the width)."""

    def __post_init__(self):
        if self.name not in ARCH_NAMES:
            raise ConfigError(f"unknown SAE architecture {self.name!r}; choose one of {ARCH_NAMES}")
        if self.name in TOPK_FAMILY and (self.k is None or self.k < 1):
            raise ConfigError(f"SAE architecture {self.name} needs k >= 1 active features")
        if self.name == "jumprelu" and (self.target_l0 is None or self.target_l0 <= 0):
            raise ConfigError("a JumpReLU SAE needs an L0 target > 0 (target_l0)")
        checks = {
            "auxk_alpha": self.auxk_alpha >= 0,
            "threshold_beta": 0 <= self.threshold_beta < 1,
            "threshold_start_step": self.threshold_start_step is None
            or self.threshold_start_step >= 0,
            "bandwidth": self.bandwidth > 0,
            "init_threshold": self.init_threshold > 0,
            "sparsity_coef": self.sparsity_coef >= 0,
            "ortho_coef": self.ortho_coef >= 0,
            "ortho_chunk": self.ortho_chunk >= 2,
        }
        bad = [f"{k}={getattr(self, k)!r}" for k, ok in checks.items() if not ok]
        if bad:
            raise ConfigError(f"invalid {self.name} settings: {', '.join(bad)}")
        fr = self.group_fractions
        if not fr or min(fr) <= 0 or not math.isclose(sum(fr), 1.0, abs_tol=1e-6):
            raise ConfigError(f"matryoshka group_fractions must be positive and sum to 1, got {fr}")
        if self.group_weights is not None and (
            len(self.group_weights) != len(fr) or min(self.group_weights) < 0
        ):
            raise ConfigError("matryoshka group_weights needs one non-negative weight per group")

    def group_sizes(self, dict_size: int) -> list[int]:
        """Matryoshka group sizes for a width (the reference's rounding: the last takes the rest)."""
        sizes = [int(f * dict_size) for f in self.group_fractions[:-1]]
        sizes.append(dict_size - sum(sizes))
        if min(sizes) < 1:
            raise ConfigError(
                f"matryoshka groups {self.group_fractions} leave an empty group at width {dict_size}"
            )
        return sizes
