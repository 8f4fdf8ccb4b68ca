"""Feature selection for SHIFT: the feature skyline and manual selection.

Feature skyline (Muhamed et al. 2024, following Marks et al. 2024): rank every dictionary feature
of the circuit by its indirect effect on the *gender* metric over the balanced set,

    m_gender(x) = -(probe logit signed towards x's gender label),

so a feature whose ablation most weakens the probe's ability to read gender has the largest
positive effect. Ablate the top k for k in 1..K (K = 200) and keep the k whose ablated model has the
best profession accuracy on the balanced dev set (ties go to the smaller k); a control keeps the k
with the best worst-group accuracy over the dev set's four profession x gender groups instead.
Error nodes are never candidates: they are not features a person could name or remove.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from shift.ablation import AblationEvaluator, FeatureSet


@dataclass(frozen=True)
class RankedFeature:
    submodule: str
    index: int
    effect: float

    @property
    def id(self) -> str:
        return f"{self.submodule}/{self.index}"


def rank_features(effects: dict[str, torch.Tensor], top: int | None = None) -> list[RankedFeature]:
    """Features of every submodule sorted by effect, largest first. `effects[name]` is [n_features]."""
    ranked = [
        RankedFeature(name, int(i), float(e[i]))
        for name, e in effects.items()
        for i in torch.argsort(e, descending=True)[: top or len(e)].tolist()
    ]
    ranked.sort(key=lambda r: -r.effect)
    return ranked[:top] if top else ranked


def feature_set(ranked: Sequence[RankedFeature]) -> FeatureSet:
    chosen: dict[str, list[int]] = {}
    for r in ranked:
        chosen.setdefault(r.submodule, []).append(r.index)
    return {k: torch.tensor(sorted(v)) for k, v in chosen.items()}


@dataclass
class SweepPoint:
    k: int
    profession_acc: float
    gender_acc: float
    worst_group_acc: float = float("nan")


def sweep(
    evaluator: AblationEvaluator,
    ranked: Sequence[RankedFeature],
    predict: Callable[[torch.Tensor], torch.Tensor],
    profession: torch.Tensor,
    gender: torch.Tensor,
    ks: Sequence[int],
    select_by: str = "profession",
) -> tuple[int, list[SweepPoint]]:
    """Evaluate each k on the evaluator's texts; return the k with the best profession accuracy
    (`select_by="worst group"`: the best worst-group accuracy), ties to the smaller k."""
    points = []
    groups = [(profession == p) & (gender == g) for p in (0, 1) for g in (0, 1)]
    pooled = evaluator.pooled_sweep([feature_set(ranked[:k]) for k in ks])
    for k, x in zip(ks, tqdm(pooled, total=len(ks), desc="skyline sweep"), strict=True):
        pred = predict(x).long()
        right = pred == profession
        points.append(
            SweepPoint(
                k,
                right.float().mean().item(),
                (pred == gender).float().mean().item(),
                min(right[g].float().mean().item() for g in groups if g.any()),
            )
        )
    metric = "worst_group_acc" if select_by == "worst group" else "profession_acc"
    best = max(points, key=lambda p: (getattr(p, metric), -p.k))
    return best.k, points
