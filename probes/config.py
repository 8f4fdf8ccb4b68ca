"""How probes are trained, as settings only (no torch): the linear probe (`ProbeConfig`,
`probes.probe`) and the concept bottleneck probe (`CBPConfig` and its keyword sets,
`probes.cbp`), each with the recipe of the paper it follows as its defaults.

A module of its own so that a command line can build its options and check its values from
these classes without importing the model stack.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ssae.errors import ConfigError


@dataclass
class ProbeConfig:
    """How a probe is trained (defaults: Marks et al. 2024, `bib_shift.ipynb`)."""

    lr: float = 1e-2
    """AdamW learning rate."""
    weight_decay: float = 0.01
    """AdamW weight decay (PyTorch's default, which the paper leaves on)."""
    epochs: int = 1
    """Passes over the training set."""
    batch_size: int = 128
    """Examples per optimiser step."""
    min_steps: int = 0
    """At least this many optimiser steps: whole epochs are repeated on small sets. 0 (the
    paper's recipe) trains exactly `epochs` epochs."""
    seed: int = 42
    """Seed for the initialisation (and the reshuffling, if `shuffle`)."""
    shuffle: bool = False
    """Reshuffle every epoch; the paper's data is shuffled once upfront, so off by default."""
    device: str = "cpu"
    """Where training runs (the trained probe is returned on the CPU)."""

    def __post_init__(self):
        if (
            self.lr <= 0
            or self.epochs < 1
            or self.batch_size < 1
            or self.weight_decay < 0
            or self.min_steps < 0
        ):
            raise ConfigError(f"invalid probe config {self}")


CBP_KEYWORDS = (
    "nurse",
    "healthcare",
    "hospital",
    "patient",
    "medical",
    "clinic",
    "triage",
    "medication",
    "emergency",
    "surgery",
    "professor",
    "academia",
    "research",
    "university",
    "tenure",
    "faculty",
    "dissertation",
    "sabbatical",
    "publication",
    "grant",
)
"""The 20 concepts of the SSAE paper's CBP baseline for professor/nurse (App. G.2)."""

GENDER_KEYWORDS = ("he", "she", "his", "her", "him", "woman", "man", "gender")
"""Concepts about the spurious attribute, for a bottleneck that names gender and drops it."""


@dataclass
class CBPConfig:
    """Concept bottleneck probe settings."""

    keywords: tuple[str, ...] = CBP_KEYWORDS
    """Concept keywords; each becomes one concept vector."""
    drop: tuple[str, ...] = ()
    """Keywords removed from the bottleneck after the centring (the paper drops none: its
    keywords carry no gender)."""
    standardize: bool = False
    """Standardise each similarity with the training set's mean and std (not in the paper)."""
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    """How the linear probe on the similarities is trained."""

    def __post_init__(self):
        self.keywords, self.drop = tuple(self.keywords), tuple(self.drop)
        if len(set(self.keywords)) != len(self.keywords) or not self.keywords:
            raise ConfigError("CBP keywords must be non-empty and distinct")
        if not set(self.kept):
            raise ConfigError("CBP drops every concept; keep at least one keyword")

    @property
    def kept(self) -> tuple[str, ...]:
        return tuple(k for k in self.keywords if k not in self.drop)
