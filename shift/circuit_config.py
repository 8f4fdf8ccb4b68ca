"""The circuit a SHIFT run computes and draws: how many examples, the plot's thresholds
(`circuits.config.ThresholdConfig`, whose fields and defaults it inherits), human labels, and
whether the report's graph is drawn at all.

Its own module because both the run configuration (`shift.config`) and the presets
(`shift.presets`, whose `[circuit]` table it types) read it, and the run configuration reads the
presets.
"""

from __future__ import annotations

from dataclasses import dataclass

from circuits.config import ThresholdConfig
from ssae.errors import ConfigError


@dataclass(frozen=True)
class CircuitConfig(ThresholdConfig):
    """The circuit a run computes and plots (its thresholds: `ThresholdConfig`'s fields)."""

    examples: int = 128
    """Examples used for node effects (ambiguous set for the circuit, balanced for gender)."""
    labels: str | None = None
    """JSONL of human feature labels shown in the circuit graph."""
    graph: bool = True
    """Compute, annotate and render the classifier's circuit (the report's graph); the skyline
    needs only the gender effects, so `shift bench` leaves it out."""

    def __post_init__(self):
        super().__post_init__()
        if self.examples < 1:
            raise ConfigError("--circuit-examples must be >= 1")
