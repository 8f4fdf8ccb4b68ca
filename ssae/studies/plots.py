"""The studies' figures, written as PNG (atomically) with matplotlib's Agg backend.

Each function takes plain numbers (series by label) so the figures can be redrawn from a study's
JSON alone.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from ssae.io import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | os.PathLike) -> None:
    plt = _pyplot()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def lines(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    path: str | os.PathLike,
    title: str,
    xlabel: str,
    ylabel: str,
    logx: bool = False,
    logy: bool = False,
    markers: bool = False,
    span: tuple[float, float] | None = None,
    points: Mapping[str, tuple[float, float]] | None = None,
) -> None:
    """One line per label; `span` shades an x range, `points` adds single labelled markers."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for label, (x, y) in series.items():
        ax.plot(x, y, marker="o" if markers else None, ms=3, label=label)
    for label, (x, y) in (points or {}).items():
        ax.plot([x], [y], marker="*", ms=12, ls="none", label=label)
    if span is not None:
        ax.axvspan(*span, color="grey", alpha=0.12, label="AUC range")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    _save(fig, path)


def bars(
    groups: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    path: str | os.PathLike,
    title: str,
    ylabel: str,
    errors: Mapping[str, Sequence[float | None]] | None = None,
) -> None:
    """Grouped bars: one group per entry of `groups`, one bar per label (None draws nothing)."""
    plt = _pyplot()
    bars_in_all = len(groups) * max(1, len(series))
    fig, ax = plt.subplots(figsize=(min(12.0, max(6.4, 0.25 * bars_in_all)), 4.0))
    width = 0.8 / max(1, len(series))
    x = np.arange(len(groups))
    for i, (label, values) in enumerate(series.items()):
        vals = np.array([np.nan if v is None else v for v in values], dtype=float)
        err = None
        if errors is not None and label in errors:
            err = np.array([0 if e is None else e for e in errors[label]], dtype=float)
        ax.bar(x + (i - (len(series) - 1) / 2) * width, vals, width, yerr=err, label=label)
    ax.set_xticks(x, list(groups), rotation=30, ha="right", fontsize=8)
    ax.set(title=title, ylabel=ylabel)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7)
    _save(fig, path)


def histograms(
    series: Mapping[str, Mapping[str, Sequence[float]]],
    path: str | os.PathLike,
    title: str,
    xlabel: str,
    logy: bool = False,
) -> None:
    """Step histograms from {"edges", "counts"} per label (as `ssae.studies.tail.histogram`)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for label, h in series.items():
        ax.stairs(h["counts"], h["edges"], label=label)
    ax.set(title=title, xlabel=xlabel, ylabel="count")
    if logy:
        ax.set_yscale("symlog")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    _save(fig, path)
