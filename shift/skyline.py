"""Feature selection for SHIFT: the feature skyline and manual selection.

Feature skyline (Muhamed et al. 2024, following Marks et al. 2024): rank every dictionary feature
of the circuit by its indirect effect on the *gender* metric over the balanced set,

    m_gender(x) = -(probe logit signed towards x's gender label),

so a feature whose ablation most weakens the probe's ability to read gender has the largest
positive effect. Ablate the top k for k in 1..K (K = 200) and keep the k whose ablated model has the
best profession accuracy on the balanced dev set (ties go to the smaller k). Error nodes are never
candidates: they are not features a person could name or remove.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from shift.ablation import AblationEvaluator, FeatureSet
from ssae.io import atomic_path


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


def sweep(
    evaluator: AblationEvaluator,
    ranked: Sequence[RankedFeature],
    predict: Callable[[torch.Tensor], torch.Tensor],
    profession: torch.Tensor,
    gender: torch.Tensor,
    ks: Sequence[int],
) -> tuple[int, list[SweepPoint]]:
    """Evaluate each k on the evaluator's texts; return the k with the best profession accuracy."""
    points = []
    pooled = evaluator.pooled_sweep([feature_set(ranked[:k]) for k in ks])
    for k, x in zip(ks, tqdm(pooled, total=len(ks), desc="skyline sweep"), strict=True):
        pred = predict(x).long()
        points.append(
            SweepPoint(
                k,
                (pred == profession).float().mean().item(),
                (pred == gender).float().mean().item(),
            )
        )
    best = max(points, key=lambda p: (p.profession_acc, -p.k))
    return best.k, points


def plot_sweep(points, best_k: int, path: Path, label: str) -> None:
    """Dev profession and gender accuracy against the number of ablated features."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ks = [p.k for p in points]
    ax.plot(ks, [p.profession_acc for p in points], label="profession acc (dev)")
    ax.plot(ks, [p.gender_acc for p in points], label="gender acc (dev)")
    ax.axvline(best_k, color="grey", ls="--", label=f"chosen k = {best_k}")
    ax.axhline(0.5, color="lightgrey", lw=0.8)
    ax.set_xlabel("features ablated (k)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{label}: features ablated")
    ax.set_ylim(0, 1)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
