"""A bench: SHIFT methods crossed with SAE architectures, GSAE training seeds and run seeds.

A cell is one `shift run` (method, architecture, SAE seed a, run seed s). Methods that edit SAEs
(`EditRecipe.dictionaries` gsae or ssae) are run for every architecture and every SAE seed;
the others (gendered-word deletion, the neuron skyline) depend on neither and run once per run
seed. Every run's rows keep their predictions on the test pool, so the bench can give each row an
interval that accounts for the SAE seeds, the run seeds and the finite test set, and pair every
difference (`shift.bench_stats`). The reference rows (Original, CBP, Oracle) come with every
cell; they depend on the run seed only and are counted once per seed.

`bench.json` holds the settings, the provenance of the runs (`shift.provenance`; a resumed bench
refuses runs computed from anything else), the test pool's labels, every cell's rows and, after
every cell, the summary and the paired differences; `bench.md` and `bench.png` show them.

Several `shift bench` processes may work on one `--out` at once (say one per core): each claims a
cell with a lock file before running it and skips cells another process holds, and bench.json is
re-read and rewritten under a lock, so every finished cell lands in it once.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from pathlib import Path

from shift.bench_stats import (
    PoolLabels,
    RowCells,
    bootstrap,
    paired_difference,
    predictions,
    summarize,
)
from shift.methods import METHODS
from shift.provenance import difference
from ssae.errors import ToolkitError
from ssae.io import atomic_path, markdown_table, write_json, write_text

RESULTS_VERSION = 2
"""bench.json layout: 2 = cells with per-example predictions (1 = seed means only)."""


@dataclasses.dataclass(frozen=True)
class Cell:
    """One run of a bench."""

    method: str
    arch: str
    sae_seed: int
    seed: int

    @property
    def name(self) -> str:
        arch = "" if self.arch == "relu" else f"-{self.arch}"
        return f"{self.method}{arch}-sae{self.sae_seed}-seed{self.seed}"


def uses_saes(method: str) -> bool:
    edit = METHODS[method].edit
    return edit is not None and edit.dictionaries in ("gsae", "ssae")


def plan(methods: list[str], archs: list[str], sae_seeds: int, seeds: int) -> list[Cell]:
    """Every cell, run seed by run seed (so a stopped bench has whole seeds), then by method."""
    cells = []
    for s in range(seeds):
        for a in range(sae_seeds):
            for m in methods:
                if uses_saes(m):
                    cells += [Cell(m, arch, a, s) for arch in archs]
                elif a == 0:
                    cells.append(Cell(m, "relu", 0, s))
    return cells


def read_bench(path: Path, settings: dict) -> dict:
    """The cells (and provenance) an earlier bench with the same settings wrote to `path`."""
    if not path.exists():
        return {"cells": []}
    try:
        previous = json.loads(path.read_text())
        previous["cells"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ToolkitError(
            f"{path} is not a bench.json ({e}); delete it or choose another --out"
        ) from e
    if previous.get("version") != RESULTS_VERSION:
        raise ToolkitError(
            f"{path} was written by an older shift bench (no per-example predictions); "
            "choose another --out or delete it"
        )
    if previous.get("settings") != settings:
        raise ToolkitError(
            f"{path} holds a bench with other settings ({previous.get('settings')}, now "
            f"{settings}); choose another --out or delete it"
        )
    return previous


def check_provenance(bench: dict, record: dict, where: str) -> None:
    """Refuse, in one line, a run computed from another world, preset, code, torch or BLAS."""
    known = bench.get("provenance")
    if known is None:
        return
    diff = difference(known, record)
    if diff is not None:
        field, old, new = diff
        raise ToolkitError(
            f"{where} is computed with another {field.split('.')[0]} than the bench's finished "
            f"runs ({field}: {_short(old)} there, {_short(new)} now); rerun into a new --out"
        )


def _short(value) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def run_bench(
    out: Path,
    cells: list[Cell],
    settings: dict,
    run_cell: Callable[[Cell], dict],
    report: Callable[[str], None] = lambda msg: None,
    n_reps: int = 2000,
    expected: dict | None = None,
) -> dict:
    """Run the cells not yet in `out/bench.json`, rewriting the files after each one.
    `expected`: the provenance the new runs will have, checked before any of them runs."""
    from filelock import FileLock, Timeout

    out.mkdir(parents=True, exist_ok=True)
    shared = FileLock(str(out / ".bench.json.lock"))
    with shared:
        bench = read_bench(out / "bench.json", settings)
    if expected is not None:
        check_provenance(bench, expected, "this bench")
    if bench["cells"]:
        report(f"{len(bench['cells'])} finished cells read from {out / 'bench.json'}")
    claims = out / ".claims"
    claims.mkdir(exist_ok=True)
    for cell in cells:
        if dataclasses.astuple(cell) in _done(bench):
            continue
        claim = FileLock(str(claims / f"{cell.name}.lock"))
        try:
            claim.acquire(timeout=0)
        except Timeout:
            report(f"{cell.name}: being run by another process")
            continue
        try:
            with shared:  # another process may have finished it meanwhile
                bench = read_bench(out / "bench.json", settings)
            if dataclasses.astuple(cell) in _done(bench):
                continue
            result = run_cell(cell)
            with shared:
                bench = read_bench(out / "bench.json", settings)
                check_provenance(bench, result["provenance"], f"cell {cell.name}")
                bench.update(version=RESULTS_VERSION, settings=settings)
                bench.setdefault("provenance", result["provenance"])
                bench.setdefault("test_pool", result["test_pool"])
                bench["cells"].append(
                    {
                        **dataclasses.asdict(cell),
                        "k": result["k"],
                        "rows": [_row(r) for r in result["rows"]],
                        "saebench_scr": [_row(r) for r in result.get("saebench_scr", [])],
                    }
                )
                write_bench(out, bench, n_reps)
            report(f"{cell.name}: k={result['k']}")
        finally:
            claim.release()
    with shared:
        bench = read_bench(out / "bench.json", settings)
        bench.update(version=RESULTS_VERSION, settings=settings)
        write_bench(out, bench, n_reps)
    return bench


def _done(bench: dict) -> set[tuple]:
    return {(c["method"], c["arch"], c["sae_seed"], c["seed"]) for c in bench["cells"]}


def _row(row: dict) -> dict:
    keep = ("method", "profession_acc", "gender_acc", "worst_group_acc", "predictions", "n")
    out = {k: row[k] for k in keep if k in row}
    if row.get("balanced_only"):
        out["balanced_only"] = True
    return out


def row_cells(bench: dict) -> tuple[list[RowCells], PoolLabels, list[int], list[int]]:
    """Every table row with its predictions per (SAE seed, run seed) cell."""
    pool = PoolLabels.from_record(bench["test_pool"])
    rows: dict[str, RowCells] = {}
    for cell in bench["cells"]:
        own = uses_saes(cell["method"])
        for r in [*cell["rows"], *cell.get("saebench_scr", [])]:
            label = r["method"]
            if label not in rows:
                rows[label] = RowCells(label, {}, bool(r.get("balanced_only")))
            # rows of the unedited model (reference rows, classifier methods) have one SAE level
            key = (cell["sae_seed"] if own and _edited(label) else 0, cell["seed"])
            rows[label].cells.setdefault(key, predictions(r["predictions"], pool.n))
    sae_seeds = sorted({c["sae_seed"] for c in bench["cells"]})
    seeds = sorted({c["seed"] for c in bench["cells"]})
    return list(rows.values()), pool, sae_seeds, seeds


def _edited(label: str) -> bool:
    return label not in {m.label for m in METHODS.values() if m.reference}


PAIRS = (
    ("GSAE SHIFT", "Original"),
    ("SSAE SHIFT", "Original"),
    ("SSAE SHIFT", "GSAE SHIFT"),
    ("SSAE SHIFT + retrain", "GSAE SHIFT + retrain"),
    ("Comp. GSAE SHIFT", "Original"),
    ("Comp. SSAE SHIFT", "Comp. GSAE SHIFT"),
    ("SSAE SHIFT", "General-finetune SHIFT"),
    ("General-finetune SHIFT", "GSAE SHIFT"),
    ("Comp. SSAE SHIFT", "Comp. general-finetune SHIFT"),
    ("Comp. general-finetune SHIFT", "Comp. GSAE SHIFT"),
    ("SSAE SHIFT (paper recipe)", "GSAE SHIFT"),
    ("Comp. SSAE SHIFT (paper recipe)", "Comp. GSAE SHIFT"),
    ("GSAE SHIFT (k by dev worst group)", "GSAE SHIFT"),
    ("GSAE SHIFT (max k 400)", "GSAE SHIFT"),
    ("SSAE SHIFT (k by dev worst group)", "SSAE SHIFT"),
    ("SSAE SHIFT (max k 400)", "SSAE SHIFT"),
    ("Gendered-word deletion", "GSAE SHIFT"),
    ("Gendered-word deletion", "SSAE SHIFT"),
)
"""(a, b) differences reported for every architecture (ReLU labels; others get their suffix)."""
_SAE_LABELS = {
    label
    for key, m in METHODS.items()
    if uses_saes(key)
    for label in (m.label, f"{m.label} + retrain")
}
_BASE_ORDER = {
    label: i
    for i, label in enumerate(
        label
        for key, m in METHODS.items()
        if uses_saes(key)
        for label in (
            m.label,
            f"{m.label} + retrain",
            *(f"{m.label} SAEBench SCR@{n}" for n in (10, 20)),
        )
    )
}


def _for_arch(label: str, suffix: str) -> str:
    return label + suffix if label in _SAE_LABELS else label


def row_order(labels: list[str]) -> list[str]:
    """Reference and classifier rows first, then each architecture's SAE rows (ReLU first) in
    registry order, the Oracle last."""
    methods = list(METHODS.values())
    reference = {m.label for m in methods if m.reference}

    def key(label: str):
        base, _, arch = label.partition(" [")
        if label == "Oracle":
            return (3, "", 0, label)
        if label in reference or base not in _BASE_ORDER:
            return (0, "", 0, label)
        return (1 if not arch else 2, arch, _BASE_ORDER[base], label)

    return sorted(labels, key=key)


def comparisons(labels: list[str]) -> Iterator[tuple[str, str]]:
    """The paired differences a bench reports, for every architecture present: each edit against
    the Original, SSAE against GSAE, each control against what it controls for, gendered-word
    deletion against the SAE edits, and each architecture's GSAE and SSAE rows against ReLU's."""
    have = set(labels)
    suffixes = sorted({label[label.rindex(" [") :] for label in labels if label.endswith("]")})
    for x in ["", *suffixes]:
        pairs = [(_for_arch(a, x), _for_arch(b, x)) for a, b in PAIRS]
        if x:
            pairs += [(f"GSAE SHIFT{x}", "GSAE SHIFT"), (f"SSAE SHIFT{x}", "SSAE SHIFT")]
        for a, b in pairs:
            if a in have and b in have:
                yield a, b


def analyse(bench: dict, n_reps: int = 2000) -> dict:
    """Summary per row and paired differences (`shift.bench_stats`), JSON-ready."""
    if not bench["cells"]:
        return {"summary": {}, "differences": []}
    rows, pool, sae_seeds, seeds = row_cells(bench)
    rows = sorted(rows, key=lambda r: row_order([x.label for x in rows]).index(r.label))
    stats = bootstrap(rows, pool, sae_seeds, seeds, n_reps=n_reps)
    diffs = [
        {"a": a, "b": b, **paired_difference(stats, a, b)}
        for a, b in comparisons([r.label for r in rows])
    ]
    return {"summary": summarize(stats), "differences": diffs}


def write_bench(out: Path, bench: dict, n_reps: int = 2000) -> None:
    """bench.json (cells, summary, differences), bench.md and bench.png."""
    out.mkdir(parents=True, exist_ok=True)
    bench.update(analyse(bench, n_reps), bootstrap_replicates=n_reps)
    write_json(out / "bench.json", bench)
    write_text(out / "bench.md", "# shift bench\n\n" + markdown(bench))
    plot(bench, out / "bench.png")


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def _mean_ci(metric: dict) -> str:
    if metric["mean"] is None:
        return "-"
    return f"{_pct(metric['mean'])} {_ci(metric['ci95'])}"


def _ci(ci: list, scale: float = 100.0, digits: int = 1) -> str:
    if ci is None or ci[0] is None:
        return "-"
    return f"[{scale * ci[0]:.{digits}f}, {scale * ci[1]:.{digits}f}]"


def markdown(bench: dict) -> str:
    """The rows (mean and 95% interval), SCR, the paired differences, and what they rest on."""
    summary, settings = bench["summary"], bench["settings"]
    head = [
        "row",
        "worst group",
        "profession",
        "gender",
        "SCR worst",
        "SCR profession",
        "cells",
        "worst group per cell",
    ]
    body = []
    for label, r in summary.items():
        w, p, g = (r[m] for m in ("worst_group_acc", "profession_acc", "gender_acc"))
        scr = r.get("scr", {})
        body.append(
            [
                label,
                _mean_ci(w),
                _mean_ci(p),
                _mean_ci(g),
                *(
                    f"{scr[m]['point']:.2f} {_ci(scr[m]['ci95'], 1, 2)}"
                    if m in scr and scr[m]["point"] is not None
                    else "-"
                    for m in ("worst_group_acc", "profession_acc")
                ),
                r["n_cells"],
                " ".join(_pct(v) for v in w["cells"].values()) if w["mean"] is not None else "-",
            ]
        )
    diff_head = ["a - b", "worst group", "P(> 0)", "profession", "gender"]
    diff_body = []
    for d in bench["differences"]:
        w = d.get("worst_group_acc")
        diff_body.append(
            [
                f"{d['a']} - {d['b']}",
                f"{100 * w['point']:+.1f} {_ci(w['ci95'])}" if w else "-",
                f"{w['p_positive']:.3f}" if w else "-",
                *(
                    f"{100 * d[m]['point']:+.1f} {_ci(d[m]['ci95'])}" if m in d else "-"
                    for m in ("profession_acc", "gender_acc")
                ),
            ]
        )
    prov = bench.get("provenance", {})
    world = prov.get("world", {})
    note = (
        f"Settings: {json.dumps(settings, sort_keys=True)}. Mean over cells [95% interval of a "
        f"hierarchical bootstrap over SAE seeds, run seeds and test examples, "
        f"{bench.get('bootstrap_replicates')} replicates; shift.bench_stats]. SCR = (A - A_Original) "
        "/ (A_Oracle - A_Original); for the SAEBench SCR@N rows the profession column's SCR is "
        "SAEBench's score. Differences are paired (same seeds, same test examples). World model "
        f"{str(world.get('model_sha256'))[:12]}, corpus {str(world.get('corpus_sha256'))[:12]}; "
        f"code {prov.get('code', {}).get('source_sha256', '')[:12]}; torch {prov.get('torch')}."
    )
    return (
        note
        + "\n\n"
        + markdown_table(head, body)
        + "\n## Paired differences\n\n"
        + markdown_table(diff_head, diff_body)
    )


def plot(bench: dict, path: Path) -> None:
    """Worst-group accuracy per row, mean with its 95% interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(k, v) for k, v in bench["summary"].items() if v["worst_group_acc"]["mean"] is not None]
    if not rows:
        return
    fig, ax = plt.subplots(figsize=(8, max(3, 0.28 * len(rows) + 1)))
    y = list(range(len(rows)))[::-1]
    means = [100 * v["worst_group_acc"]["mean"] for _, v in rows]
    lo = [100 * (v["worst_group_acc"]["ci95"][0] or 0) for _, v in rows]
    hi = [100 * (v["worst_group_acc"]["ci95"][1] or 0) for _, v in rows]
    err = [[m - a for m, a in zip(means, lo)], [b - m for m, b in zip(means, hi)]]
    ax.barh(y, means, xerr=err, capsize=2, color="tab:blue", alpha=0.8)
    ax.set_yticks(y, [k for k, _ in rows], fontsize=7)
    ax.set_xlim(0, 100)
    ax.set_xlabel("worst-group accuracy (%), mean and 95% hierarchical-bootstrap interval")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
