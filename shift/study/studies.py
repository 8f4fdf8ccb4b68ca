"""The four studies of `shift study`: which runs each needs and what it reports.

- data-selection: every selection method (and the boost SAE on the dense selection) swept over
  the L1 factors and training seeds; per method the area under the test Pareto curve per seed
  (mean and std over seeds), and the area of the best-on-validation curve on the test and OOD
  splits, absolute and relative to the general SAE.
- pareto: the dense SSAE and the full-corpus baseline, best on validation per L1 factor, against
  the general SAE, on the test and OOD splits, absolute and relative (spliced perplexity / the
  general SAE's).
- tail: the general SAE, the SSAE, the TERM-SSAE, the boost SAE and the full-corpus baseline on
  the subdomain's tail (ssae.studies.tail).
- term: ERM against TERM at each tilt, TERM holding the ERM run's L0 by adaptive L1; finetuned
  from the general SAE for physics/toxicity, trained from scratch for TinyStories
  (ssae.studies.objective, plus the tail measurements).

Each writes `<study>.json`, `<study>.md` and PNG figures into the output folder (see
shift.study.report for the writing).
"""

from __future__ import annotations

import torch

from shift.study.context import StudyContext
from shift.study.measure import dictionaries, measure, objective_report, tail_report
from shift.study.runs import GSAE, RunSpec, gsae_metrics, run, selection, trained_scale
from ssae.errors import ToolkitError
from ssae.studies.pareto import Point, area_under, best_on_validation, mean_std
from ssae.studies.selection import SELECTION_METHODS


def l0_range(ctx: StudyContext, gsae: dict, split: str) -> tuple[float, float]:
    lo, hi = ctx.study.auc_l0
    if ctx.study.auc_relative:
        return lo * gsae[split]["l0"], hi * gsae[split]["l0"]
    return lo, hi


def grid(
    ctx: StudyContext, kind: str, method: str, factors: tuple[float, ...] | None = None
) -> list[tuple[RunSpec, dict]]:
    """Every (L1 factor, seed) run of one kind and training-data method."""
    out = []
    for factor in factors or ctx.study.l1_factors:
        for seed in ctx.study.seeds:
            spec = RunSpec(kind, method, l1_factor=factor, seed=seed)
            out.append((spec, run(ctx, spec)[1]))
    return out


def _points(runs, split: str, gsae: dict | None = None) -> list[Point]:
    scale = gsae[split]["ppl_spliced"] if gsae is not None else 1.0
    return [Point(m[split]["l0"], m[split]["ppl_spliced"] / scale) for _, m in runs]


def curve_summary(ctx: StudyContext, runs, gsae: dict) -> dict:
    """Per split: AUC per seed (mean, std), and of the best-on-validation curve (abs, relative)."""
    best = best_on_validation(
        runs, group=lambda r: r[0].l1_factor, score=lambda r: r[1]["val"]["ce_spliced"]
    )
    out = {}
    for split in ctx.data.eval_splits:
        if split == "val":
            continue
        lo, hi = l0_range(ctx, gsae, split)
        per_seed = [
            area_under(_points([r for r in runs if r[0].seed == s], split), lo, hi)["mean"]
            for s in ctx.study.seeds
        ]
        best_abs = area_under(_points(best, split), lo, hi)
        best_rel = area_under(_points(best, split, gsae), lo, hi)
        out[split] = {
            "l0_range": [lo, hi],
            "per_seed": per_seed,
            **mean_std(per_seed),
            "best_on_val": best_abs["mean"],
            "best_on_val_relative": best_rel["mean"],
            "covered": best_abs["covered"],
            "front": best_abs["front"],
            "points": [
                {
                    "l1_factor": s.l1_factor,
                    "seed": s.seed,
                    "l0": m[split]["l0"],
                    "ppl": m[split]["ppl_spliced"],
                    "relative": m[split]["ppl_spliced"] / gsae[split]["ppl_spliced"],
                }
                for s, m in best
            ],
        }
    return out


def data_selection(ctx: StudyContext) -> dict:
    gsae = gsae_metrics(ctx)
    methods = {}
    for method in (*SELECTION_METHODS, "boost"):
        kind, data = ("boost", "dense") if method == "boost" else ("finetune", method)
        runs = grid(ctx, kind, data, ctx.study.selection_l1_factors)
        methods[method] = {
            "label": "Boost (dense data)" if method == "boost" else method,
            "selection": selection(ctx, data)[2],
            "auc": curve_summary(ctx, runs, gsae),
            "runs": [{"spec": vars(s), "metrics": m} for s, m in runs],
        }
    return {"gsae": gsae, "gsae_auc": gsae_summary(ctx, gsae), "methods": methods}


def gsae_summary(ctx: StudyContext, gsae: dict) -> dict:
    """The general SAE is one point: its area holds its perplexity over the whole range."""
    out = {}
    for split in ctx.data.eval_splits:
        if split != "val":
            point = [Point(gsae[split]["l0"], gsae[split]["ppl_spliced"])]
            out[split] = area_under(point, *l0_range(ctx, gsae, split))["mean"]
    return out


def pareto(ctx: StudyContext) -> dict:
    gsae = gsae_metrics(ctx)
    curves = {}
    for method, label in (("full", "Full corpus"), ("dense", "SSAE (dense)")):
        curves[label] = curve_summary(ctx, grid(ctx, "finetune", method), gsae)
    return {"gsae": gsae, "curves": curves}


def tail_models(ctx: StudyContext) -> dict[str, RunSpec | None]:
    """The SAEs the tail study compares (label -> run; None is the general SAE)."""
    base = RunSpec("finetune", "dense")
    target = run(ctx, base)[1]["val"]["l0"]
    tilt = ctx.study.tilts[0]
    return {
        GSAE: None,
        "Full corpus": RunSpec("finetune", "full"),
        "SSAE": base,
        f"TERM-SSAE (t={tilt:g})": RunSpec("finetune", "dense", tilt=tilt, target_l0=target),
        "Boost": RunSpec("boost", "dense"),
    }


def tail(ctx: StudyContext) -> dict:
    if ctx.domain == "tinystories":
        raise ToolkitError(
            "the tail study compares SAEs specialised to a subdomain; use --domain physics or "
            "toxicity (TinyStories is the from-scratch TERM study: shift study term)"
        )
    models = tail_models(ctx)
    gsae = gsae_metrics(ctx)
    _, measured = measure(ctx, models)
    report = tail_report(ctx, measured, baseline="Full corpus")
    report["splits"] = {label: gsae if s is None else run(ctx, s)[1] for label, s in models.items()}
    report["runs"] = {label: None if s is None else vars(s) for label, s in models.items()}
    return report


def term_models(ctx: StudyContext) -> dict[str, RunSpec]:
    """ERM and one TERM run per tilt, the TERM runs holding the ERM run's validation L0."""
    scratch = ctx.data.has("train")
    erm = RunSpec("scratch", "train") if scratch else RunSpec("finetune", "dense")
    target = run(ctx, erm)[1]["val"]["l0"]
    models = {"ERM": erm}
    for t in ctx.study.tilts:
        models[f"TERM t={t:g}"] = RunSpec(erm.kind, erm.method, tilt=t, target_l0=target)
    return models


def term(ctx: StudyContext) -> dict:
    models = term_models(ctx)
    _, measured = measure(ctx, models)
    dicts = dictionaries(ctx, models)
    erm_scale = trained_scale(ctx, run(ctx, models["ERM"])[0])
    losses = measured["test"].per_dict["ERM"].sq_error.double() / erm_scale**2
    report = {
        "runs": {label: vars(s) for label, s in models.items()},
        "splits": {label: run(ctx, s)[1] for label, s in models.items()},
        "objective": objective_report(ctx, measured, dicts),
        "tail": tail_report(ctx, measured, baseline=None),
        # How hard each tilt weights the worst tokens at this loss scale: the effective number
        # of tokens, 1 / sum(w^2) with w = softmax(t l), in batches of 1024 tokens of the ERM
        # SAE's per-token squared error l in its training units (1024 at t = 0, 1 = max loss).
        "tilt_effective_tokens": {
            f"{t:g}": effective_tokens(losses, t) for t in (0.0, *ctx.study.tilts)
        },
        "loss_in_training_units": {"mean": float(losses.mean()), "std": float(losses.std())},
    }
    return report


def effective_tokens(losses: torch.Tensor, tilt: float, batch: int = 1024) -> float:
    """Mean over batches of 1 / sum_i w_i^2, w = softmax(tilt * losses of the batch)."""
    out = []
    for start in range(0, max(1, losses.numel() - batch + 1), batch):
        w = torch.softmax(tilt * losses[start : start + batch], dim=0)
        out.append(float(1.0 / w.pow(2).sum()))
    return sum(out) / len(out)


STUDY_FUNCTIONS = {
    "data-selection": data_selection,
    "pareto": pareto,
    "tail": tail,
    "term": term,
}
