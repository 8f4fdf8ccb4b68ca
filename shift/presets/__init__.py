"""Presets: everything that differs between the paper's setup and the built-in worlds, as data.

A preset is a TOML file next to this module (`paper.toml`, `tiny.toml`, `micro.toml`) read into
the typed `Preset` below (`ssae.configs.from_mapping`: unknown or mistyped settings are errors).
Its tables are the configurations of the stages - `[probe]` (`probes.probe.ProbeConfig`), `[gsae]`
(`ssae.train.TrainConfig`), `[finetune]` (`ssae.train.FinetuneConfig`), `[retrieval]`
(`ssae.retrieval.RetrievalConfig`) and `[circuit]` (`shift.circuit_config.CircuitConfig`) - and
every setting a file leaves out is the class's own default, which is the paper's. A preset on a built-in
world names it (`world = "tiny"`); that world's own sizes live in `shift.world.config`. No stage
branches on a preset's name.

Sources (`model`, `bib`, `saes`, `corpus`) are hub ids or local paths; `world:<part>` names a file
of the preset's built-in world, which `Preset.resolve()` builds on first use
(`shift.world.ensure_world`). A source given as an override (e.g. `--model PATH`) is used as is and
never triggers the build.
"""

from __future__ import annotations

import dataclasses
import functools
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from probes.probe import ProbeConfig
from shift.circuit_config import CircuitConfig
from shift.world.config import PRESETS as WORLDS
from ssae.configs import from_mapping
from ssae.errors import ConfigError
from ssae.retrieval.pipeline import RetrievalConfig
from ssae.train import FinetuneConfig, TrainConfig

WORLD_PREFIX = "world:"
SOURCES = ("model", "bib", "saes", "corpus")


@dataclass(frozen=True)
class Preset:
    """One setup of the whole pipeline (see the module docstring)."""

    name: str
    """Preset name: its file is `<name>.toml`."""
    model: str
    """Language model: hub id, local directory, or `world:model`."""
    bib: str
    """Bias in Bios: hub id, a local file/directory in the LabHC schema, or `world:bib`."""
    corpus: str
    """Corpus to train general SAEs on and retrieve subdomain data from: hub id, local
    .jsonl/.parquet, or `world:corpus`."""
    saes: str | None = None
    """General SAEs: hub repo or local folder in the dictionary_learning layout; None trains
    them on the corpus (`[gsae]`)."""
    sae_subfolder: str | None = None
    """Run folder under each submodule folder of `saes`, e.g. `10_32768`; None when each
    submodule folder holds one run."""
    layers: tuple[int, ...] = (0, 1, 2, 3, 4)
    """Layers whose submodules carry SAEs: embed + attn/mlp/resid_out_layer{i} for i in layers."""
    sae_width: int = 32768
    """Features per general SAE (trained at this width when `saes` is None)."""
    compress_k: int = 4096
    """Compressed variants keep each dictionary's first compress_k features."""
    ctx_len: int = 128
    """Tokens per document of SAE training, finetuning, retrieval and evaluation data."""
    max_text_tokens: int | None = None
    """Tokens of a biography that probes, circuits and ablations read (longer ones are cut);
    None reads every token, as the reference code does (it pads without truncating)."""
    professions: tuple[str, str] = ("professor", "nurse")
    """Bias in Bios profession pair (A, B): label 0 and label 1."""
    probe_submodule: str | None = None
    """Where the classifier reads; None = residual stream of the penultimate layer."""
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    """How probes train (one epoch of the paper's recipe unless the preset says otherwise)."""
    gsae: TrainConfig = field(default_factory=TrainConfig)
    """How general SAEs are trained when `saes` is None (width: `sae_width`)."""
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    """How SSAEs are finetuned on the retrieved data."""
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    """How subdomain data is retrieved (documents cut to `ctx_len` tokens)."""
    circuit: CircuitConfig = field(default_factory=CircuitConfig)
    """The circuit's examples and plotting thresholds."""
    world: str | None = None
    """The built-in world (`shift.world.config.PRESETS`) that `world:` sources name."""

    def __post_init__(self):
        for name in ("sae_width", "compress_k", "ctx_len"):
            if getattr(self, name) < 1:
                raise ConfigError(f"preset {self.name}: {name} must be >= 1")
        if self.max_text_tokens is not None and self.max_text_tokens < 1:
            raise ConfigError(f"preset {self.name}: max_text_tokens must be >= 1 or unset")
        if self.compress_k > self.sae_width:
            raise ConfigError(
                f"preset {self.name}: compress_k {self.compress_k} exceeds sae_width "
                f"{self.sae_width}"
            )
        if self.gsae.dict_size not in (None, self.sae_width):
            raise ConfigError(f"preset {self.name}: set the SAE width with sae_width, not [gsae]")
        if self.retrieval.ctx_len != self.ctx_len:
            object.__setattr__(self, "retrieval", _replace(self.retrieval, ctx_len=self.ctx_len))
        if self.world is not None and self.world not in WORLDS:
            raise ConfigError(
                f"preset {self.name}: no built-in world {self.world!r}; worlds: {', '.join(WORLDS)}"
            )
        needs_world = [s for s in SOURCES if str(getattr(self, s)).startswith(WORLD_PREFIX)]
        if needs_world and self.world is None:
            raise ConfigError(f"preset {self.name}: {needs_world} name a world but it has none")

    @property
    def submodule_names(self) -> list[str]:
        """The SAE submodules in forward order: embed, then attn/mlp/resid of each layer."""
        names = ["embed"]
        for i in self.layers:
            names += [f"attn_out_layer{i}", f"mlp_out_layer{i}", f"resid_out_layer{i}"]
        return names

    def with_sources(self, **overrides: str | None) -> Preset:
        """A copy with the non-None source overrides (`model`, `bib`, `saes`, `corpus`)."""
        bad = sorted(set(overrides) - set(SOURCES))
        if bad:
            raise ConfigError(f"unknown preset source(s) {', '.join(bad)}; known: {SOURCES}")
        return _replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def resolve(self, *sources: str, while_training=None, verify: bool = False) -> Preset:
        """A copy whose `world:` sources (the given ones; default all) are the built world's paths.

        A stage resolves only what it reads, so e.g. `shift probe --preset tiny --model M
        --bib-path B` never builds the world for the corpus it does not use. The world is checked
        against its manifest, every file hashed with `verify`, and repaired when damaged.
        `while_training`: see `shift.world.ensure_world` (used only when the LM trains now).
        """
        bad = sorted(set(sources) - set(SOURCES))
        if bad:
            raise ConfigError(f"preset has no source(s) {', '.join(bad)}; sources: {SOURCES}")
        values = {}
        for name in sources or SOURCES:
            value = getattr(self, name)
            if isinstance(value, str) and value.startswith(WORLD_PREFIX):
                world = _world(self.world, while_training, verify)
                values[name] = str(getattr(world, value[len(WORLD_PREFIX) :]))
        return _replace(self, **values)


def _replace(obj, **values):
    return dataclasses.replace(obj, **values) if values else obj


@functools.cache
def names() -> tuple[str, ...]:
    """Every preset shipped with the package."""
    files = resources.files(__name__).iterdir()
    return tuple(sorted(Path(f.name).stem for f in files if f.name.endswith(".toml")))


@functools.cache
def _load(name: str) -> Preset:
    if name not in names():
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(names())}")
    text = resources.files(__name__).joinpath(f"{name}.toml").read_text("utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"preset file {name}.toml is not valid TOML ({e})") from e
    return from_mapping(Preset, {"name": name, **data}, where=f"preset {name}")


def get_preset(name: str, **sources: str | None) -> Preset:
    """The preset `name` with the non-None `sources` overrides (model, bib, saes, corpus)."""
    return _load(name).with_sources(**sources)


def _world(name: str, while_training=None, verify: bool = False):
    """The built world `name`, opened (and checked) afresh on every call: a file damaged since the
    last call is found, and the check costs a few `stat` calls unless `verify`."""
    from shift.world import ensure_world

    return ensure_world(name, while_training=while_training, verify=verify)
