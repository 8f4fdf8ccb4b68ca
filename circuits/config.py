"""How a circuit is computed, as settings only (no torch): which baseline a node is patched to
(`Baseline`), how node effects are estimated (`EffectConfig`, see `circuits.effects` for the
estimators) and which nodes and edges the circuit keeps (`ThresholdConfig`).

A module of its own so that a command line can build its options and check its values from
these classes without importing the model stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from ssae.errors import ConfigError

METRIC_SPECS = "logit-diff | loss | probe:PATH (linear probe weights in safetensors)"
"""The metrics a text can name (`circuits.metrics.metric_from_spec`)."""

BaselineKind = Literal["zero", "mean", "patch"]
BASELINES: tuple[str, ...] = get_args(BaselineKind)


@dataclass(frozen=True)
class Baseline:
    """What a node is patched to (`circuits.states`)."""

    kind: BaselineKind = "zero"
    """`zero`, `mean` or `patch` (the states of a contrastive input given with each batch)."""
    means: Mapping[str, Any] = field(default_factory=dict)
    """For `mean`: per submodule, a `circuits.states.State` of mean features [n] and mean error
    [d] (`circuits.compute_means`); empty, `compute_circuit` computes them over its batches."""

    def __post_init__(self):
        if self.kind not in BASELINES:
            raise ConfigError(f"baseline must be one of {BASELINES}, got {self.kind!r}")


IgMode = Literal["per_submodule", "joint"]
Aggregation = Literal["sum", "none"]
METHODS = ("attrib", "ig")
IG_MODES: tuple[str, ...] = get_args(IgMode)
AGGREGATIONS: tuple[str, ...] = get_args(Aggregation)


@dataclass(frozen=True)
class EffectConfig:
    """How node effects are computed."""

    method: str | dict[str, str] = "ig"
    """`attrib` or `ig` for every submodule, or a dict submodule name -> method."""
    steps: int = 10
    """Number of integrated-gradient steps N (alpha = 0, 1/N, ..., (N-1)/N)."""
    ig_mode: IgMode = "per_submodule"
    """`per_submodule` (Marks et al.'s code) or `joint` (all submodules interpolated together)."""
    baseline: Baseline = field(default_factory=Baseline)
    """Patch values: zero ablation, mean ablation, or a contrastive input."""
    aggregation: Aggregation = "sum"
    """`sum` over positions then mean over examples, or `none` (one node per position)."""
    max_tokens_per_pass: int = 8192
    """Integration steps are stacked along the batch axis up to this many tokens per pass."""

    def __post_init__(self):
        methods = self.method.values() if isinstance(self.method, dict) else [self.method]
        for m in methods:
            if m not in METHODS:
                raise ConfigError(f"method must be one of {METHODS}, got {m!r}")
        if self.steps < 1:
            raise ConfigError("steps must be >= 1")
        if self.ig_mode not in IG_MODES:
            raise ConfigError(f"ig_mode must be one of {IG_MODES}, got {self.ig_mode!r}")
        if self.aggregation not in AGGREGATIONS:
            raise ConfigError(
                f"aggregation must be one of {AGGREGATIONS}, got {self.aggregation!r}"
            )
        if self.max_tokens_per_pass < 1:
            raise ConfigError("max_tokens_per_pass must be >= 1")

    def method_of(self, name: str) -> str:
        if isinstance(self.method, dict):
            return self.method.get(name, "ig")
        return self.method


@dataclass(frozen=True)
class ThresholdConfig:
    """Which nodes and edges a circuit keeps (Marks et al. 2024, sec. 3)."""

    node_threshold: float = 0.1
    """Node threshold of the plotted circuit, in units of the metric (Marks et al.: 0.1)."""
    edge_threshold: float = 0.01
    """Edge threshold of the plotted circuit (Marks et al.: 0.01)."""

    def __post_init__(self):
        if not (self.node_threshold >= 0 and self.edge_threshold >= 0):
            raise ConfigError("circuit thresholds must be >= 0")
