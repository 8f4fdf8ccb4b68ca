"""Settings of SAE training from scratch (`TrainConfig`) and finetuning (`FinetuneConfig`).

Both share `FitConfig`: the architecture (`ssae.arch_config.ArchConfig`), the optimiser, the L1 penalty (fixed, warmed up, or steered towards a
target L0), the TERM tilt (0 is ERM), the token budget, resampling of dead features, the
activation normalisation and the checkpoint cadence. `ssae.train` runs them; see its docstring for
what normalisation and units mean. Every setting is validated when the config is made.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from ssae.arch_config import ArchConfig
from ssae.errors import ConfigError, ToolkitError


@dataclass
class FitConfig:
    """Settings shared by training and finetuning (defaults: see TrainConfig, FinetuneConfig)."""

    arch: ArchConfig | None = None
    """The SAE architecture and its own settings; for finetuning, None keeps each SAE's own
    (config.json's record, else its class's reference defaults)."""
    lr: float = 1e-3
    """Adam learning rate after warm-up."""
    l1: float | None = 1.0
    """L1 coefficient lambda, in the units the SAE is trained in (see module docstring).
    Finetuning with None keeps each SAE's own coefficient (config.json `l1_penalty`, else 0.1)."""
    tilt: float = 0.0
    """TERM tilt t over per-token losses; 0 is ERM."""
    n_tokens: int | None = None
    """Token budget (real tokens, padding excluded); None is one epoch of the dataset."""
    batch_docs: int = 16
    """Documents per step; each step trains on all their real tokens."""
    warmup_steps: int = 0
    """Linear learning-rate warm-up steps."""
    decay_start: float | None = None
    """Fraction of the steps after which the learning rate decays linearly to 0 (None: never)."""
    l1_warmup_steps: int = 0
    """Linear warm-up of the sparsity penalty (lambda; JumpReLU's L0 loss) from 0 over this many
    steps."""
    target_l0: float | None = None
    """Adaptive L1 (L1 architectures): steer each SAE's L0 towards this value (None: fixed
    lambda)."""
    l1_adapt_rate: float = 0.05
    """Exponent of the multiplicative lambda controller."""
    resample_every: int | None = None
    """Resample dead features every this many steps (None: never)."""
    dead_tokens: int = 100_000
    """A feature is dead after this many tokens without activating."""
    normalize: bool | None = True
    """Train on x / s per submodule (see module docstring); the saved SAE reads raw x. For
    finetuning, None (auto) keeps the scale the SAE was trained with (1 for external SAEs)."""
    checkpoint_every: int = 50
    """Write a resumable checkpoint every this many steps."""
    seed: int = 0
    """Seed of the data order; each SAE's initialisation, resampling and other randomness derive
    from (seed, submodule name) alone, so an SAE does not depend on the others trained with it."""
    names: list[str] | None = None
    """Submodules to train (default: all of the model, or all of the given SAE set)."""
    progress: bool = True
    """Show a tqdm progress bar."""
    threads: int | None = None
    """torch intra-op threads during the run (restored afterwards); None keeps the current
    setting. 1 is fastest for small models on a machine shared with other jobs."""
    cache_activations: bool = False
    """Read every document's activations once and train from memory (n_tokens x d floats per
    submodule): for small datasets passed over many times, each pass then skips the model."""

    def __post_init__(self):
        # setting -> (valid?, the rule a user reads when it is not)
        checks = {
            "lr": (self.lr > 0, "> 0"),
            "l1": (self.l1 is None or self.l1 >= 0, ">= 0"),
            "tilt": (math.isfinite(self.tilt) and self.tilt >= 0, "finite and >= 0; 0 is ERM"),
            "n_tokens": (self.n_tokens is None or self.n_tokens > 0, "> 0"),
            "batch_docs": (self.batch_docs >= 1, ">= 1"),
            "warmup_steps": (self.warmup_steps >= 0, ">= 0"),
            "decay_start": (self.decay_start is None or 0 <= self.decay_start < 1, "in [0, 1)"),
            "l1_warmup_steps": (self.l1_warmup_steps >= 0, ">= 0"),
            "target_l0": (self.target_l0 is None or self.target_l0 > 0, "> 0"),
            "resample_every": (self.resample_every is None or self.resample_every >= 1, ">= 1"),
            "dead_tokens": (self.dead_tokens >= 1, ">= 1"),
            "checkpoint_every": (self.checkpoint_every >= 1, ">= 1"),
            "threads": (self.threads is None or self.threads >= 1, ">= 1"),
        }
        bad = [
            f"{k}={getattr(self, k)!r} (must be {rule})"
            for k, (ok, rule) in checks.items()
            if not ok
        ]
        if bad:
            raise ConfigError(f"invalid SAE training settings: {', '.join(bad)}")

    def fingerprint(self) -> dict:
        """The settings that change the result (progress and checkpoint cadence do not)."""
        d = asdict(self)
        for key in ("progress", "checkpoint_every", "threads"):
            d.pop(key)
        return d


@dataclass
class TrainConfig(FitConfig):
    """General SAEs from scratch: width `dict_size` (default expansion x d), resampling on."""

    lr: float = 1e-3
    l1: float | None = 1.0
    n_tokens: int | None = 500_000
    warmup_steps: int = 20
    decay_start: float | None = 0.8
    l1_warmup_steps: int = 20
    resample_every: int | None = 100
    dead_tokens: int = 50_000
    arch: ArchConfig | None = field(default_factory=ArchConfig)
    expansion: int = 8
    """Dictionary width as a multiple of the activation width (when `dict_size` is None)."""
    dict_size: int | None = None
    """Dictionary width; overrides `expansion`."""
    decoder_bias: bool = True
    """False fixes b_dec at 0: a residual (boost) SAE must add nothing where no feature fires."""

    def __post_init__(self):
        super().__post_init__()
        if self.arch is None:
            raise ToolkitError("training from scratch needs an architecture (arch)")
        if self.l1 is None or self.normalize is None:
            raise ToolkitError("training from scratch needs an explicit l1 and normalize")
        if self.expansion < 1 or (self.dict_size is not None and self.dict_size < 1):
            raise ToolkitError(
                f"invalid SAE width: expansion={self.expansion}, dict_size={self.dict_size}"
            )


@dataclass
class FinetuneConfig(FitConfig):
    """Specialising an SAE set (SSAE paper: lr 1e-4, L1 0.1, one epoch, tilt 0, 500 or 1e9).

    Defaults keep each SAE's own units and L1 coefficient (`normalize=None`, `l1=None`), so a
    finetuned SAE trades sparsity for reconstruction as its general parent did."""

    lr: float = 1e-4
    l1: float | None = None
    n_tokens: int | None = None
    normalize: bool | None = None
