"""Measurements of a group of trained SAEs on the domain's data, as one cached stage each.

`measure` runs ssae.studies.stats over the in-distribution test split (and over the probe
documents with their concept masks, where the domain has planted concepts) for every SAE of the
group at once, and keeps the logit-lens tokens of every feature. `tail_report` and
`objective_report` turn those statistics into the JSON-ready numbers of the tail and TERM
analyses (ssae.studies.tail, ssae.studies.objective).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from safetensors.torch import load_file, save_file

from shift.study.context import StudyContext
from shift.study.runs import RunSpec, load_run, run
from ssae.dictionary import Dictionary
from ssae.studies import objective, tail
from ssae.studies.stats import TokenStats, collect_stats


def dictionaries(ctx: StudyContext, models: dict[str, RunSpec | None]) -> dict[str, Dictionary]:
    """Label -> dictionary at the studied submodule (None: the general SAE)."""
    out = {}
    for label, spec in models.items():
        if spec is None:
            out[label] = ctx.gsae()[ctx.submodule]
        else:
            out[label] = load_run(ctx, spec, run(ctx, spec)[0])
    return out


def measure(ctx: StudyContext, models: dict[str, RunSpec | None]) -> tuple[Path, dict]:
    """(stage folder, {"test": TokenStats, "probe": TokenStats | None, "lens": {label: ids}})."""
    keys = {label: None if s is None else run(ctx, s)[0].name for label, s in models.items()}
    inputs = {"runs": keys, "gsae": ctx.gsae_key, "data": ctx.data.key, "k": ctx.study.lens_k}

    def fn(d: Path) -> dict:
        with ctx.limited_threads():
            _measure_into(ctx, models, d)
        return {}

    stage = ctx.runner.run("study-measure", inputs, fn)
    d = stage.dir
    lens = load_file(str(d / "lens.safetensors"))
    return d, {
        "test": TokenStats.load(d / "test"),
        "probe": TokenStats.load(d / "probe") if (d / "probe.json").exists() else None,
        "lens": {label: lens[f"{i}"] for i, label in enumerate(models)},
    }


def tail_report(ctx: StudyContext, measured: dict, baseline: str | None) -> dict:
    """Coverage by frequency bucket, cumulative coverage, activation counts by rank, count
    ratios against `baseline` (a label of the group), and planted-concept recall."""
    test: TokenStats = measured["test"]
    vocab = len(ctx.lm.tokenizer)
    counts = tail.token_counts(test.token_ids, vocab)
    buckets = tail.frequency_buckets(counts)
    out: dict = {
        "buckets": [{"lo": b["lo"], "hi": b["hi"], "n_tokens": len(b["tokens"])} for b in buckets],
        "models": {},
    }
    for label, st in test.per_dict.items():
        alive = st.counts > 0
        covered = tail.covered_tokens(measured["lens"][label][alive])
        row = {
            "alive_features": int(alive.sum()),
            "covered_tokens": int(np.isin(np.flatnonzero(counts > 0), covered).sum()),
            "coverage": tail.lens_coverage(covered, buckets),
            "cumulative": _thin(tail.cumulative_coverage(covered, counts)),
            "counts_by_rank": tail.counts_by_rank(st.counts).tolist(),
        }
        if baseline is not None and label != baseline:
            base = test.per_dict[baseline].counts
            if base.shape == st.counts.shape:
                ratios = tail.log_ratios(st.counts, base)
                row["log_ratio"] = {
                    "vs": baseline,
                    "mean": float(ratios.mean()),
                    "share_up": float((ratios > 0).mean()),
                    "share_down": float((ratios < 0).mean()),
                    "histogram": tail.histogram(ratios, np.linspace(-10, 10, 41)),
                }
        probe: TokenStats | None = measured["probe"]
        if probe is not None and ctx.data.concepts:
            recall = tail.concept_recall(
                probe.per_dict[label], probe.concept_sizes, ctx.study.recall_f1
            )
            lens_recall = tail.concept_lens_recall(covered, ctx.lm.tokenizer, ctx.data.concepts)
            for c in ctx.data.concepts:
                recall[c.name] |= {"corpus_docs": c.corpus_docs, "lens": lens_recall[c.name]}
            done = [r["recalled"] for r in recall.values() if r["recalled"] is not None]
            row["concepts"] = recall
            row["concept_recall"] = sum(done) / len(done) if done else None
        out["models"][label] = row
    return out


def objective_report(ctx: StudyContext, measured: dict, dicts: dict[str, Dictionary]) -> dict:
    """Per SAE: error summary and distribution, error by token rank, decoder similarity and PCA
    dimension, activation entropy and maximum activation (ssae.studies.objective)."""
    test: TokenStats = measured["test"]
    counts = tail.token_counts(test.token_ids, len(ctx.lm.tokenizer))
    out = {}
    for label, st in test.per_dict.items():
        directions = dicts[label].decoder_directions.detach().cpu()
        alive = st.counts > 0
        best_cos, pair_hist = objective.decoder_cosines(directions[alive])
        err = st.sq_error.numpy()
        out[label] = objective.summary(st) | {
            "pca_components_90": objective.pca_components(directions[alive], 0.9),
            "max_cos": {
                "mean": float(best_cos.mean()) if best_cos.size else None,
                "share_above_0.9": float((best_cos > 0.9).mean()) if best_cos.size else None,
                "histogram": tail.histogram(best_cos, np.linspace(0, 1, 41)),
            },
            "pairwise_cos": pair_hist,
            "error_histogram": tail.histogram(err, np.linspace(0, float(err.max()) + 1e-9, 41)),
            "error_by_rank": objective.error_by_rank(test.token_ids, st.sq_error, counts),
            "entropy_histogram": tail.histogram(st.entropy.numpy(), 30),
            "max_act_histogram": tail.histogram(st.max_act.numpy(), 30),
        }
    return out


def _thin(curve: np.ndarray, n: int = 200) -> dict:
    """A curve over ranks 1..len kept at ~n log-spaced ranks (for JSON and plots)."""
    if curve.size == 0:
        return {"rank": [], "share": []}
    ranks = np.unique(np.geomspace(1, curve.size, n).astype(int))
    return {"rank": ranks.tolist(), "share": curve[ranks - 1].tolist()}


def _measure_into(ctx: StudyContext, models: dict[str, RunSpec | None], d: Path) -> None:
    from ssae.lens import lens_top_tokens

    dicts = dictionaries(ctx, models)
    args = dict(batch_docs=ctx.study.eval_batch_docs, progress=ctx.progress)
    stats = collect_stats(ctx.lm, ctx.submodule, dicts, ctx.data.tokens("test"), **args)
    stats.save(d / "test")
    if ctx.data.has("probe"):
        masks = ctx.data.probe_masks()
        probe = collect_stats(ctx.lm, ctx.submodule, dicts, ctx.data.tokens("probe"), masks, **args)
        probe.save(d / "probe")
    lens = {
        f"{i}": lens_top_tokens(ctx.lm, dicts[label].decoder_directions, ctx.study.lens_k)
        for i, label in enumerate(dicts)
    }
    save_file(lens, str(d / "lens.safetensors"))
