"""What every stage reads: the run's configuration and method, the resolved preset, the model, the
Bias in Bios splits, and the stage runner that caches each stage under a key of its inputs."""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import torch

from shift import validate
from shift.cache import StageRunner
from shift.config import RunConfig
from shift.data.bib import BibData
from shift.methods import Method
from shift.presets import Preset, get_preset
from ssae.io import stable_hash

if TYPE_CHECKING:
    from ssae.models import LoadedModel


@dataclass
class RunContext:
    """The run's shared, read-only state."""

    cfg: RunConfig
    """The run's configuration (nested stage configurations resolved against the preset)."""
    method: Method
    """The method the run adds to the reference rows."""
    preset: Preset
    """The preset with the run's source overrides, its world sources resolved."""
    lm: LoadedModel
    """The language model, on the run's device."""
    bib: BibData
    """Train, dev and test splits of the profession pair."""
    runner: StageRunner
    """Caches stages under `$SHIFT_HOME/stages/<stage>/<key>`."""
    bib_key: str
    """Cache key of the data: its content (a hub id for hub data) and how the splits are cut."""

    @classmethod
    def open(cls, cfg: RunConfig, quiet: bool = False) -> RunContext:
        from shift.data.bib import load_bib

        src = cfg.sources
        preset = get_preset(
            cfg.preset, model=src.model, bib=src.bib_path, saes=src.sae_folder, corpus=src.corpus
        )
        checked = validate.check_run(cfg, preset)  # before the world is built or any stage runs
        from ssae.models import load_model  # slow to import: only once the options are known good

        runner = StageRunner(force=frozenset(cfg.force), quiet=quiet, verify=cfg.verify)
        job = _while_world_trains(cfg, preset)
        # The world is checked with the stages' depth: in full with --verify or after a killed run.
        resolved = preset.resolve(while_training=job, verify=runner.full_check)
        preset = replace(resolved, professions=tuple(src.professions.split(",")))
        lm = load_model(preset.model, device=checked.device)
        bib = load_bib(preset.bib, professions=src.professions, max_per_group=cfg.max_per_group)
        return cls(cfg, cfg.resolved_method, preset, lm, bib, runner, _bib_key(preset.bib, cfg))

    @property
    def probe_submodule(self) -> str:
        return self.preset.probe_submodule or f"resid_out_layer{self.lm.n_layers - 2}"

    @property
    def model_key(self) -> dict:
        from probes.activations import model_fingerprint

        return model_fingerprint(self.lm)

    def labelled_batches(self, texts: list[str], labels: torch.Tensor, size: int = 16) -> list:
        """Batches of `texts` cut to the preset's text length, with `labels` on the device."""
        out = []
        for start in range(0, len(texts), size):
            batch = self.lm.tokenize(
                texts[start : start + size], max_length=self.preset.max_text_tokens
            )
            batch["labels"] = torch.as_tensor(labels[start : start + size]).to(self.lm.device)
            out.append(batch)
        return out

    def evaluator(self, saes, texts: list[str], fill=None, sweep: bool = True):
        """Pooled probe-layer activations of `texts` under feature ablations of `saes`. `sweep`
        caches the clean residual stream for many evaluations; one evaluation does not need it
        (it would cost a second pass and the stream's memory)."""
        from shift.ablation import AblationEvaluator

        return AblationEvaluator(
            self.lm,
            dict(saes),
            texts,
            self.lm.submodule(self.probe_submodule),
            fill=fill,
            max_length=self.preset.max_text_tokens,
            cache_prefix=sweep,
        )


def _while_world_trains(cfg: RunConfig, preset: Preset):
    """What this run can do while a world it needs trains its LM on one core: embed the world's
    corpus for dense retrieval (nearly all of the `retrieve` stage; shorter than the training)."""
    edit = cfg.resolved_method.edit
    world_corpus = preset.corpus == "world:corpus" and preset.model == "world:model"
    if edit is None or edit.dictionaries != "ssae" or not world_corpus:
        return None
    if cfg.retrieval.first_stage != "dense":
        return None
    return functools.partial(embed_world_corpus, config=cfg.retrieval)


def embed_world_corpus(paths, config) -> None:
    """`ssae.retrieval.pipeline.embed_corpus` of a (partly built) world's corpus, cut by its
    tokenizer: what the `retrieve` stage (`shift.stages.dictionaries.run_retrieve`) needs from
    the corpus before the world's LM exists. Runs in a spawned child process."""
    from ssae.retrieval.pipeline import embed_corpus  # lazy: the retrieval stack is slow to import

    embed_corpus(paths.corpus, paths.model, config)


def _bib_key(source: str, cfg: RunConfig) -> str:
    from ssae.content import source_key

    return stable_hash(
        {
            "bib": source_key(source),
            "professions": cfg.sources.professions,
            "max_per_group": cfg.max_per_group,
        }
    )
