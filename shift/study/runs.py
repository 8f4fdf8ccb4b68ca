"""The cached stages the studies are made of: selections, trained SAEs, their evaluations.

Every trained SAE is one `RunSpec` and one training stage whose key covers what it depends on
(its training data, the general SAEs, the training settings), so the four studies share runs: the
Pareto study's dense SSAEs are the data-selection study's, the TERM study's ERM run is the one the
tail study reads. A second stage evaluates the SAE at the studied submodule on every evaluation
split (L0, FVU, spliced CE; ssae.evaluate.spliced_metrics) into `metrics.json`.

Kinds of run:
- `finetune`: the general SAE finetuned on a selection (`method`), with L1 = factor x its own;
- `boost`: a residual SAE trained on the general SAE's error on a selection (ssae.studies.boost);
- `scratch`: an SAE trained from scratch on the domain's training documents (TinyStories study).
TERM runs set `tilt`; `target_l0` switches on adaptive L1 (ssae.trainer).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from shift.study.context import StudyContext
from ssae.dictionary import Dictionary
from ssae.io import write_json
from ssae.sae_set import SAESet
from ssae.tokens import TokenDataset

GSAE = "GSAE"


@dataclass(frozen=True)
class RunSpec:
    kind: str
    """finetune, boost or scratch."""
    method: str
    """Selection method of the training data (`train` for scratch runs)."""
    l1_factor: float = 1.0
    """L1 as a multiple of the general SAE's (scratch: of the preset's [gsae] L1)."""
    seed: int = 0
    tilt: float = 0.0
    target_l0: float | None = None

    @property
    def label(self) -> str:
        name = {"finetune": "SSAE", "boost": "Boost", "scratch": "SAE"}[self.kind]
        if self.kind == "finetune" and self.method != "dense":
            name = f"SSAE[{self.method}]"
        if self.tilt:
            name = f"TERM-{name} (t={self.tilt:g})"
        return name


def selection(ctx: StudyContext, method: str) -> tuple[Path, str, dict]:
    """(token dataset folder, stage key, summary) of one data-selection method."""
    from ssae.retrieval.corpus import load_corpus
    from ssae.studies.selection import select_data

    corpus = load_corpus(str(ctx.preset.corpus))
    uses_sae = method.endswith("+tracin")
    inputs = {
        "seeds": ctx.data.seeds_key,
        "corpus": corpus.fingerprint,
        "method": method,
        "budget": ctx.study.select_tokens,
        "ctx_len": ctx.preset.ctx_len,
        "embedder": ctx.preset.retrieval.embedder,
        "gsae": ctx.gsae_key if uses_sae else None,
        "submodule": ctx.submodule if uses_sae else None,
    }

    def fn(d: Path) -> dict:
        return select_data(
            method,
            corpus,
            ctx.data.seeds,
            ctx.lm,
            d / "selection",
            ctx.study.select_tokens,
            ctx_len=ctx.preset.ctx_len,
            saes=ctx.gsae_dir if uses_sae else None,
            submodule=ctx.submodule,
            topic=ctx.study.topics.get(ctx.domain),
            retrieval={"embedder": ctx.preset.retrieval.embedder},
        )

    stage = ctx.runner.run("study-select", inputs, fn)
    summary = json.loads((stage.dir / "selection" / "selection.json").read_text())
    return stage.dir / "selection" / "tokens", stage.key, summary


def gsae_metrics(ctx: StudyContext) -> dict:
    """The general SAE at the studied submodule on every evaluation split."""
    inputs = {"gsae": ctx.gsae_key, "data": ctx.data.key, "submodule": ctx.submodule}

    def fn(d: Path) -> dict:
        with ctx.limited_threads():
            write_json(d / "metrics.json", evaluate_splits(ctx, ctx.gsae()[ctx.submodule]))
        return {}

    stage = ctx.runner.run("study-gsae-eval", inputs, fn)
    return json.loads((stage.dir / "metrics.json").read_text())


def run(ctx: StudyContext, spec: RunSpec) -> tuple[Path, dict]:
    """(training stage folder, metrics per split) of one SAE, trained and evaluated if needed.

    Training and evaluation are separate stages: new evaluation data re-evaluates the SAEs
    without training them again."""
    if spec.kind == "scratch":
        tokens_dir, data_key = ctx.data.dir / "train", ctx.data.part_key("train")
    else:
        tokens_dir, data_key, _ = selection(ctx, spec.method)
    cfg = _config(ctx, spec)
    inputs = {
        "spec": asdict(spec),
        "train_data": data_key,
        "gsae": ctx.gsae_key,
        "submodule": ctx.submodule,
        "config": cfg.fingerprint(),
    }

    def train(d: Path) -> dict:
        from ssae.studies.boost import train_boost
        from ssae.train import finetune_saes, train_saes

        tokens = TokenDataset.load(tokens_dir)
        with ctx.limited_threads():
            if spec.kind == "finetune":
                saes = finetune_saes(ctx.lm, ctx.gsae(), tokens, cfg, d / "run")
            elif spec.kind == "boost":
                saes = train_boost(ctx.lm, ctx.gsae(), tokens, cfg, d / "run")
            else:
                saes = train_saes(ctx.lm, tokens, cfg, d / "run")
        return {"steps": saes.meta.get("steps"), "n_tokens": saes.meta.get("n_tokens")}

    trained = ctx.runner.run(f"study-{spec.kind}", inputs, train)

    def evaluate(d: Path) -> dict:
        with ctx.limited_threads():
            metrics = evaluate_splits(ctx, load_run(ctx, spec, trained.dir))
        write_json(d / "metrics.json", metrics)
        return {"val_ce": metrics["val"]["ce_spliced"], "test_l0": metrics["test"]["l0"]}

    evaluated = ctx.runner.run(
        "study-eval", {"run": trained.key, "kind": spec.kind, "data": ctx.data.key}, evaluate
    )
    return trained.dir, json.loads((evaluated.dir / "metrics.json").read_text())


def load_run(ctx: StudyContext, spec: RunSpec, stage_dir: Path) -> Dictionary:
    """The trained dictionary of a run at the studied submodule (boost: GSAE + residual)."""
    from ssae.studies.boost import BoostedDictionary

    trained = SAESet.load(stage_dir / "run", ctx.lm, names=[ctx.submodule], device=ctx.lm.device)
    if spec.kind == "boost":
        return BoostedDictionary(ctx.gsae()[ctx.submodule], trained[ctx.submodule])
    return trained[ctx.submodule]


def trained_scale(ctx: StudyContext, stage_dir: Path) -> float:
    """The activation scale s a run trained in (x / s; ssae.train), 1 when unrecorded."""
    saes = SAESet.load(stage_dir / "run", ctx.lm, names=[ctx.submodule])
    return float(saes.configs[ctx.submodule].get("trainer", {}).get("activation_scale") or 1.0)


def evaluate_splits(ctx: StudyContext, dictionary: Dictionary) -> dict[str, dict]:
    """Spliced metrics of `dictionary` on every evaluation split, with the split's clean CE."""
    from ssae.evaluate import spliced_metrics

    out = {}
    for split in ctx.data.eval_splits:
        row = spliced_metrics(
            ctx.lm,
            ctx.submodule,
            dictionary,
            ctx.data.tokens(split),
            batch_docs=ctx.study.eval_batch_docs,
        )
        clean = ctx.data.clean[split]
        out[split] = row | clean | {"ce_delta": row["ce_spliced"] - clean["clean_ce"]}
    return out


def _config(ctx: StudyContext, spec: RunSpec):
    from ssae.fit_config import FinetuneConfig, TrainConfig

    study = ctx.study
    common = dict(
        tilt=spec.tilt,
        target_l0=spec.target_l0,
        seed=spec.seed,
        batch_docs=study.batch_docs,
        n_tokens=study.train_tokens,
        names=[ctx.submodule],
        progress=ctx.progress,
        cache_activations=study.cache_activations,
    )
    if spec.kind == "finetune":
        return FinetuneConfig(lr=study.lr, l1=spec.l1_factor * ctx.gsae_l1(), **common)
    if spec.kind == "boost":
        return TrainConfig(l1=spec.l1_factor * ctx.gsae_l1(), dict_size=study.boost_width, **common)
    n_tokens = ctx.data.tokens("train").n_tokens
    # From scratch with the preset's own recipe for general SAEs (in a built-in world, the one
    # calibrated for sparse, faithful SAEs), so the ERM baseline is a SAE of the usual kind.
    recipe = ctx.preset.gsae
    return TrainConfig(
        l1=spec.l1_factor * recipe.l1,
        lr=recipe.lr,
        dict_size=study.scratch_width,
        **(common | {"n_tokens": n_tokens}),
    )
