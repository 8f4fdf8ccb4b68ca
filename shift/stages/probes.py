"""Stage `probes`: the reference rows (Original, CBP, Oracle) and the Original probe SHIFT edits;
stage `baseline`: the row of a method that trains a classifier instead of editing the model."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from shift.methods import REFERENCE, Method
from shift.stages.context import RunContext
from ssae.io import write_json


@dataclass(frozen=True)
class ProbesResult:
    """The classifiers trained on the unedited model, scored on the test split."""

    key: str
    """Cache key of the stage."""
    dir: Path
    """Stage directory: `probes/<method key>.safetensors`, `rows.json`, `results.json`."""
    rows: list[dict]
    """One table row per method."""

    @property
    def original_probe(self) -> Path:
        """The Original probe: the classifier whose reliance on gender SHIFT removes."""
        return self.dir / "probes" / "original.safetensors"


def probe_config(ctx: RunContext):
    """The run's probe recipe: the preset's, seeded 42 + run seed, on the model's device."""
    cfg = ctx.cfg.probe
    return replace(cfg, seed=cfg.seed + ctx.cfg.seed, device=str(ctx.lm.device))


def run_probes(ctx: RunContext, methods: tuple[Method, ...] = REFERENCE) -> ProbesResult:
    """Train and score `methods` (default: the reference rows) on the run's data."""
    from probes.config import CBPConfig
    from shift.baselines import run_baselines, words_fingerprint

    probe_cfg = probe_config(ctx)
    inputs = {
        "model": ctx.model_key,
        "bib": ctx.bib_key,
        "probe_submodule": ctx.probe_submodule,
        "probe": {k: v for k, v in asdict(probe_cfg).items() if k != "device"},
        "cbp": {k: v for k, v in asdict(CBPConfig()).items() if k != "probe"},
        "max_text_tokens": ctx.preset.max_text_tokens,
        "methods": [asdict(m.probe) | {"label": m.label, "key": m.key} for m in methods],
    }
    if any(m.probe.text != "as written" for m in methods):
        inputs["gendered_words"] = words_fingerprint()

    def fn(d: Path) -> dict:
        run = run_baselines(
            ctx.preset,
            out=d,
            max_per_group=ctx.cfg.max_per_group,
            device=str(ctx.lm.device),
            probe_config=probe_cfg,
            lm=ctx.lm,
            methods=methods,
            bib=ctx.bib,
        )
        write_json(d / "rows.json", [r.row() for r in run.rows])
        return {}

    name = "probes" if methods == REFERENCE else "baseline"
    stage = ctx.runner.run(name, inputs, fn)
    return ProbesResult(stage.key, stage.dir, json.loads((stage.dir / "rows.json").read_text()))
