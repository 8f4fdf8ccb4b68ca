"""The circuit a SHIFT run computes and draws: how many examples, and the plot's thresholds.

Its own module because both the run configuration (`shift.config`) and the presets
(`shift.presets`, whose `[circuit]` table it types) read it, and the run configuration reads the
presets.
"""

from __future__ import annotations

from dataclasses import dataclass

from ssae.errors import ConfigError


@dataclass(frozen=True)
class CircuitConfig:
    """The circuit a run computes and plots."""

    examples: int = 128
    """Examples used for node effects (ambiguous set for the circuit, balanced for gender)."""
    node_threshold: float = 0.1
    """Node threshold of the plotted circuit, in units of the metric (Marks et al.: 0.1)."""
    edge_threshold: float = 0.01
    """Edge threshold of the plotted circuit (Marks et al.: 0.01)."""
    labels: str | None = None
    """JSONL of human feature labels shown in the circuit graph."""
    graph: bool = True
    """Compute, annotate and render the classifier's circuit (the report's graph); the skyline
    needs only the gender effects, so `shift bench` leaves it out."""

    def __post_init__(self):
        if self.examples < 1:
            raise ConfigError("--circuit-examples must be >= 1")
        if self.node_threshold < 0 or self.edge_threshold < 0:
            raise ConfigError("circuit thresholds must be >= 0")
