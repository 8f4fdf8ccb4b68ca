"""Accuracy metrics of a classifier with a spurious attribute (Marks et al. 2024, Section 4).

Given hard predictions y_hat over a pool of test examples with profession labels y and gender
labels g:

- profession accuracy  = mean over the balanced set of [y_hat = y]   (higher is better);
- gender accuracy      = mean over the balanced set of [y_hat = g]   (closer to 50% is better: a
  classifier that ignores gender agrees with it on half of a balanced set);
- worst-group accuracy = min over the four (profession, gender) subgroups G of
  mean over G of [y_hat = y]  (higher is better; the spurious classifier fails on the groups
  where profession and gender disagree);
- ambiguous accuracy   = mean over the ambiguous set of [y_hat = y]  (there y = g everywhere).

Each row also keeps its hard predictions over the whole test pool, packed one bit per example
(`pack_bits`), so intervals over test examples and paired differences between rows can be
computed later from the rows alone (`shift.bench_stats`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import torch

from ssae.errors import ConfigError
from ssae.io import write_json

METRIC_COLUMNS = ("profession_acc", "gender_acc", "worst_group_acc", "ambiguous_acc")


def accuracy(pred: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of equal entries; NaN for an empty set."""
    if pred.shape != labels.shape:
        raise ConfigError(
            f"predictions {tuple(pred.shape)} and labels {tuple(labels.shape)} differ"
        )
    if len(labels) == 0:
        return float("nan")
    return float((pred.long().cpu() == labels.long().cpu()).float().mean())


def group_accuracies(
    pred: torch.Tensor, labels: torch.Tensor, groups: Mapping[str, torch.Tensor]
) -> dict[str, float]:
    """Accuracy on each group of pool indices."""
    return {name: accuracy(pred[idx], labels[idx]) for name, idx in groups.items()}


@dataclass
class ProbeMetrics:
    """The four numbers of one row of the results table, plus per-group detail."""

    method: str
    profession_acc: float
    gender_acc: float
    worst_group_acc: float
    ambiguous_acc: float
    group_acc: dict[str, float] = field(default_factory=dict)
    """Profession accuracy per subgroup, e.g. `professor/female`."""
    worst_group: str = ""
    """Name of the subgroup with the lowest accuracy."""
    predictions: str = ""
    """Hard 0/1 predictions over the test pool, packed by `pack_bits`."""

    def row(self) -> dict:
        return asdict(self)


def pack_bits(values: torch.Tensor) -> str:
    """0/1 values [n] as a hex string, 8 values per byte, first value in the lowest bit."""
    bits = values.detach().to("cpu", torch.uint8).reshape(-1)
    pad = (-len(bits)) % 8
    bits = torch.cat([bits, bits.new_zeros(pad)]).reshape(-1, 8)
    weights = torch.tensor([1 << i for i in range(8)], dtype=torch.uint8)
    return bytes((bits * weights).sum(1, dtype=torch.uint8).tolist()).hex()


def unpack_bits(text: str, n: int) -> torch.Tensor:
    """The inverse of `pack_bits`: a bool tensor [n]."""
    raw = torch.tensor(list(bytes.fromhex(text)), dtype=torch.uint8)
    bits = (raw[:, None] >> torch.arange(8, dtype=torch.uint8)) & 1
    if bits.numel() < n:
        raise ConfigError(f"packed predictions hold {bits.numel()} values, expected {n}")
    return bits.reshape(-1)[:n].bool()


def evaluate_predictions(
    method: str,
    pred: torch.Tensor,
    profession: torch.Tensor,
    gender: torch.Tensor,
    balanced: torch.Tensor,
    ambiguous: torch.Tensor,
    groups: Mapping[str, torch.Tensor],
) -> ProbeMetrics:
    """Metrics of predictions `pred` [n] over a test pool (indices select the sets)."""
    if not groups:
        raise ConfigError("worst-group accuracy needs at least one group")
    per_group = group_accuracies(pred, profession, groups)
    worst = min(per_group, key=per_group.get)
    return ProbeMetrics(
        method=method,
        profession_acc=accuracy(pred[balanced], profession[balanced]),
        gender_acc=accuracy(pred[balanced], gender[balanced]),
        worst_group_acc=per_group[worst],
        ambiguous_acc=accuracy(pred[ambiguous], profession[ambiguous]),
        group_acc=per_group,
        worst_group=worst,
        predictions=pack_bits(pred.long() != 0),
    )


def format_table(rows: Sequence[ProbeMetrics | Mapping]) -> str:
    """Plain-text table of the metric columns in percent."""
    dicts = [r.row() if isinstance(r, ProbeMetrics) else dict(r) for r in rows]
    heads = ("method", "profession", "gender", "worst group", "ambiguous")
    body = [[d["method"], *(f"{100 * d[c]:.1f}" for c in METRIC_COLUMNS)] for d in dicts]
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(heads)]

    def line(cells):
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
        )

    return "\n".join([line(heads), line(["-" * w for w in widths]), *map(line, body)]) + "\n"


def write_results(
    path: str | os.PathLike, rows: Sequence[ProbeMetrics | Mapping], **extra: object
) -> None:
    """JSON `{"rows": [...], **extra}` written atomically."""
    dicts = [r.row() if isinstance(r, ProbeMetrics) else dict(r) for r in rows]
    write_json(path, {"rows": dicts, **extra})
