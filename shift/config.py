"""What a `shift run` depends on: one `RunConfig` holding the stages' configurations.

`RunConfig` nests the configuration of every stage - `probe` (`probes.probe.ProbeConfig`),
`finetune` (`ssae.train.FinetuneConfig`), `retrieval` (`ssae.retrieval.RetrievalConfig`),
`effects` (`circuits.effects.EffectConfig`), `circuit` (`shift.circuit_config.CircuitConfig`)
and `selection` below - and is passed whole to the pipeline. A nested configuration left at None is the preset's (`shift.presets`); each class
validates its own fields in `__post_init__`, and `RunConfig.__post_init__` checks the rest once.

`OPTIONS` maps each command-line option of `shift run` to the field it sets, so the CLI is
generated from these classes (`shift.commands.options`): every default and help text is written
once, in the class that owns the field.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from circuits.effects import EffectConfig
from probes.probe import ProbeConfig
from shift import validate
from shift.circuit_config import CircuitConfig
from shift.methods import Method, get_method
from shift.presets import get_preset
from ssae.configs import type_hints, unwrap_optional
from ssae.errors import ConfigError
from ssae.retrieval.pipeline import RetrievalConfig
from ssae.train import FinetuneConfig

Stage = Literal[
    "probes",
    "baseline",
    "gsae",
    "retrieve",
    "ssae",
    "gender-effects",
    "circuit",
    "skyline",
    "shift",
    "sae-eval",
]
STAGES: tuple[str, ...] = get_args(Stage)
DATASETS = ("bib",)


@dataclass(frozen=True)
class SelectionConfig:
    """Which features the edit ablates."""

    max_k: int = 200
    """The skyline sweeps k = 1..max_k features (SSAE paper: 200)."""
    features_file: str | None = None
    """Ablate the features listed in this file (SUBMODULE/INDEX per line) instead of the
    skyline's."""

    def __post_init__(self):
        if self.max_k < 1:
            raise ConfigError("--max-k must be >= 1")


@dataclass(frozen=True)
class Sources:
    """Local copies or other hub ids instead of the preset's model and data."""

    model: str | None = None
    """Model hub id or local directory (overrides the preset)."""
    bib_path: str | None = None
    """Bias in Bios file/directory in the LabHC schema (overrides the preset)."""
    sae_folder: str | None = None
    """General SAE folder in the dictionary_learning layout (overrides the preset)."""
    corpus: str | None = None
    """Corpus for SAE training and retrieval: .jsonl/.parquet or hub id (overrides the preset)."""
    professions: str = "professor,nurse"
    """Profession pair A,B (names or LabHC ids)."""


@dataclass
class RunConfig:
    """Everything a `shift run` depends on."""

    dataset: str = "bib"
    """Task; only Bias in Bios (`bib`) for now."""
    method: str = "ssae"
    """Method to run next to Original, CBP and Oracle (`shift.methods`): gsae, ssae, comp-gsae,
    comp-ssae, neurons, saebench, gendered-words."""
    preset: str = "paper"
    """`paper` (Pythia-70M-deduped, LabHC/bias_in_bios, Marks et al. SAEs), `tiny` (built-in
    offline world) or `micro` (the test-sized world)."""
    out: Path | None = None
    """Report directory."""
    seed: int = 0
    """Run seed: offsets the probe seed (42 + seed), picks the retrieval seed examples and
    orders the finetuning data. The dataset splits always use seed 42, as in the paper."""
    device: str = "auto"
    """`auto` (CUDA when available), `cpu` or `cuda`."""
    max_per_group: int | None = None
    """Cap on each profession x gender group per split (quick runs); None = all."""
    sae_eval: bool = True
    """Evaluate the SAEs (L0, FVU, spliced CE) on the test biographies."""
    force: tuple[Stage, ...] = ()
    """Recompute this stage even if cached (repeatable); the old result stays until it is done."""
    verify: bool = False
    """Check cached artifacts by SHA-256 before reusing them (sizes are always checked)."""
    sources: Sources = field(default_factory=Sources)
    """Local or other sources instead of the preset's."""
    probe: ProbeConfig | None = None
    """How probes train; None is the preset's."""
    finetune: FinetuneConfig | None = None
    """How SSAEs are finetuned; None is the preset's."""
    retrieval: RetrievalConfig | None = None
    """How subdomain data is retrieved; None is the preset's."""
    effects: EffectConfig = field(default_factory=EffectConfig)
    """How node effects are estimated (per-submodule IG, 10 steps, zero patch)."""
    circuit: CircuitConfig | None = None
    """The circuit's examples and plotting thresholds; None is the preset's."""
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    """Which features the edit ablates."""

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise ConfigError(f"unknown dataset {self.dataset!r}; available: {', '.join(DATASETS)}")
        get_method(self.method)
        preset = get_preset(self.preset)
        for name in ("probe", "finetune", "retrieval", "circuit"):
            if getattr(self, name) is None:
                setattr(self, name, getattr(preset, name))
        unknown = set(self.force) - set(STAGES)
        if unknown:
            raise ConfigError(
                f"--force names unknown stages {sorted(unknown)}; stages: {', '.join(STAGES)}"
            )
        self.force = tuple(self.force)
        validate.check_values(
            {
                "tilt": self.finetune.tilt,
                "node_threshold": self.circuit.node_threshold,
                "edge_threshold": self.circuit.edge_threshold,
                "seed": self.seed,
                "max_per_group": self.max_per_group,
            }
        )
        self.out = Path(self.out or Path("runs") / f"{self.dataset}-{self.method}-{self.preset}")

    @property
    def resolved_method(self) -> Method:
        """The `shift.methods.Method` that `method` names."""
        return get_method(self.method)

    @classmethod
    def from_options(cls, **options) -> RunConfig:
        """A RunConfig from flat option names (those of `shift run`, see `OPTIONS`): the nested
        configurations are the preset's with the given fields replaced."""
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise ConfigError(f"unknown run option(s) {', '.join(unknown)}")
        validate.check_values(options)
        top, nested = {}, {}
        for name, value in options.items():
            if value is None:
                continue
            section, fld = OPTIONS[name]
            if section is None:
                top[fld] = value
            else:
                nested.setdefault(section, {})[fld] = value
        preset = get_preset(top.get("preset", cls.preset))
        for section, values in nested.items():
            base = getattr(preset, section, None)
            if base is None:
                base = {f.name: f for f in dataclasses.fields(cls)}[section].default_factory()
            top[section] = dataclasses.replace(base, **values)
        return cls(**top)


OPTIONS: dict[str, tuple[str | None, str]] = {
    "dataset": (None, "dataset"),
    "method": (None, "method"),
    "preset": (None, "preset"),
    "out": (None, "out"),
    "seed": (None, "seed"),
    "device": (None, "device"),
    "max_per_group": (None, "max_per_group"),
    "sae_eval": (None, "sae_eval"),
    "force": (None, "force"),
    "verify": (None, "verify"),
    "model": ("sources", "model"),
    "bib_path": ("sources", "bib_path"),
    "sae_folder": ("sources", "sae_folder"),
    "corpus": ("sources", "corpus"),
    "professions": ("sources", "professions"),
    "tilt": ("finetune", "tilt"),
    "retrieval": ("retrieval", "method"),
    "ig_steps": ("effects", "steps"),
    "ig_mode": ("effects", "ig_mode"),
    "circuit_examples": ("circuit", "examples"),
    "node_threshold": ("circuit", "node_threshold"),
    "edge_threshold": ("circuit", "edge_threshold"),
    "labels": ("circuit", "labels"),
    "circuit_graph": ("circuit", "graph"),
    "max_k": ("selection", "max_k"),
    "features_file": ("selection", "features_file"),
}
"""Option name -> (nested configuration or None for RunConfig's own, field)."""


def section_class(section: str | None) -> type:
    """The class of RunConfig's nested configuration `section` (None: RunConfig itself)."""
    return RunConfig if section is None else unwrap_optional(type_hints(RunConfig)[section])[0]
