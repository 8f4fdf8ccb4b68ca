"""The report of a SHIFT run: the results table as JSON for programs and Markdown for people, next
to the paper's numbers (from the method registry), the circuit picture and its interactive
explorer (with the features the edit ablated), the skyline sweep plot, the SAE quality table and
the time per stage."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from circuits.graph import effect_summary, load_graph, save_graph
from shift.methods import METHODS, paper_numbers
from ssae.io import write_json, write_text

if TYPE_CHECKING:
    import networkx as nx

    from shift.stages.circuit import CircuitResult
    from shift.stages.context import RunContext
    from shift.stages.selection import SelectionResult

COLUMNS = ("profession_acc", "gender_acc", "worst_group_acc")


def markdown_table(rows: list[dict], paper: bool = False) -> str:
    head = "| method | profession | gender | worst group |"
    sep = "|---|---|---|---|"
    if paper:
        head += " paper (prof / gender / worst) |"
        sep += "---|"
    lines = [head, sep]
    reference = paper_numbers()
    for r in rows:
        cells = " | ".join(f"{100 * r[c]:.1f}" for c in COLUMNS)
        line = f"| {r['method']} | {cells} |"
        if paper:
            ref = reference.get(r["method"])
            line += f" {' / '.join(f'{v:.1f}' for v in ref)} |" if ref else " |"
        lines.append(line)
    return "\n".join(lines) + "\n"


def write_report(out: Path, rows: list[dict], extra: dict, sections: list[str]) -> None:
    """`results.json` (rows + everything in `extra`) and `results.md` (table + `sections`)."""
    write_json(out / "results.json", {"rows": rows, **extra})
    md = ["# SHIFT results", "", markdown_table(rows, paper=True), *sections]
    write_text(out / "results.md", "\n".join(md) + "\n")


def load_rows(path: Path) -> list[dict]:
    return json.loads(Path(path).read_text())["rows"]


@dataclass
class RunReport:
    """What a run's stages produced, gathered for the report."""

    ctx: RunContext
    reference_rows: list[dict]
    """Original, CBP and Oracle."""
    keys: dict[str, str]
    """Key of every stage that ran (or was found cached)."""
    method_rows: list[dict] = field(default_factory=list)
    """The run's method: its row and its `+ retrain` row."""
    circuit: CircuitResult | None = None
    selection: SelectionResult | None = None
    sae_eval: dict | None = None
    scr_rows: list[dict] = field(default_factory=list)
    """SAEBench's SCR at N = 10 and 20 (`shift.stages.scr`), when computed."""

    def add(self, rows: list[dict], **keys: str) -> None:
        self.method_rows += rows
        self.keys.update(keys)

    @property
    def table(self) -> list[dict]:
        """Rows in registry order: the method's rows where the method stands (before Oracle)."""
        order = list(METHODS)
        at = order.index(self.ctx.method.key)
        by_label = {m.label: order.index(k) for k, m in METHODS.items()}
        before = [r for r in self.reference_rows if by_label[r["method"]] < at]
        after = [r for r in self.reference_rows if by_label[r["method"]] > at]
        return before + self.method_rows + after


def test_pool(test) -> dict:
    """The test pool's labels, packed as the rows' predictions are (`probes.metrics.pack_bits`):
    what intervals over test examples need besides the predictions."""
    import torch

    from probes.metrics import pack_bits

    balanced = torch.zeros(len(test), dtype=torch.bool)
    balanced[test.balanced] = True
    return {
        "n": len(test),
        "profession": pack_bits(test.profession),
        "gender": pack_bits(test.gender),
        "balanced": pack_bits(balanced),
    }


def write_run_report(report: RunReport, seconds: float) -> dict:
    """Write `results.json`, `results.md` and the pictures to the run's `--out`."""
    ctx, cfg = report.ctx, report.ctx.cfg
    out = cfg.out
    out.mkdir(parents=True, exist_ok=True)
    circuit_summary = None
    if report.circuit is not None:
        for name in ("circuit.svg", "circuit.png"):
            shutil.copyfile(report.circuit.dir / name, out / name)
        circuit_summary = effect_summary(write_circuit_files(report, out))
    if report.selection is not None and report.selection.plot is not None:
        shutil.copyfile(report.selection.plot, out / "skyline.png")
    timings = {k: round(v, 2) for k, v in ctx.runner.timings.items()}
    timings["total (this run)"] = round(seconds, 2)
    k = report.selection.k if report.selection else None
    table = report.table
    sections = _sections(report, timings, out, circuit_summary)
    preset = {key: str(v) if isinstance(v, Path) else v for key, v in asdict(ctx.preset).items()}
    extra = {
        "k": k,
        "features": report.selection.features if report.selection else [],
        "circuit": "circuit.svg" if report.circuit else None,
        "circuit_view": "circuit.html" if report.circuit else None,
        "circuit_summary": circuit_summary,
        "timings_s": timings,
        "peak_rss_mib": dict(ctx.runner.peak_rss_mib),
        "sae_eval": report.sae_eval,
        "saebench_scr": report.scr_rows,
        "config": {**asdict(cfg), "out": str(cfg.out), "preset_resolved": preset},
        "stage_keys": report.keys,
        "provenance": ctx.provenance,
        "test_pool": test_pool(ctx.bib["test"]),
    }
    write_report(out, table, json.loads(json.dumps(extra, default=str)), sections)
    return {
        "rows": table,
        "test_pool": extra["test_pool"],
        "saebench_scr": report.scr_rows,
        "provenance": ctx.provenance,
        "k": k,
        "timings": timings,
        "cached": ctx.runner.cached,
        "markdown": markdown_table(table),
    }


def write_circuit_files(report: RunReport, out: Path) -> nx.DiGraph:
    """`circuit.json` with the features the edit ablated and how they were chosen, and its
    explorer `circuit.html` (`circuits.view`), which rings those features."""
    from circuits.view import write_circuit_view
    from shift.stages.circuit import circuit_title

    graph = load_graph(report.circuit.dir / "circuit.json")
    cfg = report.ctx.cfg
    label = report.ctx.method.row_labels(cfg.finetune.tilt, cfg.arch)[0]
    if report.selection is not None:
        graph.graph["ablated"] = list(report.selection.features)
        graph.graph["ablation_note"] = f"{label}: {ablation_note(report)}"
    save_graph(graph, out / "circuit.json")
    write_circuit_view(graph, out / "circuit.html", title=circuit_title(report.ctx))
    return graph


def ablation_note(report: RunReport) -> str:
    """How the run chose the features it ablated, in one sentence."""
    cfg, selection, edit = report.ctx.cfg, report.selection, report.ctx.method.edit
    if cfg.selection.features_file:
        return f"the {selection.k} features listed in {cfg.selection.features_file}"
    rule = {
        "circuit": "|indirect effect on the Original probe's gender read-out| (integrated "
        "gradients over the balanced train set)",
        "saebench": "SAEBench's |mean activation difference between genders x gender-probe "
        "weight projection onto the decoder direction|",
    }[edit.ranking]
    fill = "their mean" if edit.fill == "mean" else "zero"
    return (
        f"the top {selection.k} features by {rule}, k chosen by dev profession accuracy "
        f"(k = 1..{cfg.selection.max_k}), set to {fill}"
    )


def _sections(
    report: RunReport, timings: dict, out: Path, circuit_summary: dict | None
) -> list[str]:
    cfg, sections = report.ctx.cfg, []
    if report.selection is not None:
        how = "(from the file)" if cfg.selection.features_file else "(best dev profession accuracy)"
        sections += [f"Chosen k = {report.selection.k} features {how}", ""]
    if report.circuit is not None:
        sections += [
            "![circuit](circuit.svg)",
            "",
            circuit_summary_text(circuit_summary),
            "",
            "Explore it in [circuit.html](circuit.html) (thresholds, filters, search, feature "
            "cards; opens from disk).",
            "",
        ]
    if (out / "skyline.png").exists():
        sections += ["![skyline sweep](skyline.png)", ""]
    if report.sae_eval is not None:
        label = report.ctx.method.row_labels()[0]
        sections += [
            "## SAE quality on the test biographies",
            "",
            sae_eval_markdown(report.sae_eval, label),
            "",
        ]
    if report.scr_rows:
        sections += ["## SAEBench SCR (probe-layer features, zero-ablated)", ""]
        sections += ["| row | profession | SCR |", "|---|---|---|"]
        for r in report.scr_rows:
            scr = f"{r['scr']:.3f}" if "scr" in r else "-"
            sections.append(f"| {r['method']} | {100 * r['profession_acc']:.1f} | {scr} |")
        sections.append("")
    cached = report.ctx.runner.cached
    sections += ["## Time per stage (s)", ""]
    sections += [f"- {k}: {v}" + (" (cached)" if k in cached else "") for k, v in timings.items()]
    peaks = report.ctx.runner.peak_rss_mib
    if peaks:
        sections += ["", "## Peak memory per stage (MiB, resident, whole process)", ""]
        sections += [f"- {k}: {v}" for k, v in peaks.items()]
    return [*sections, ""]


def circuit_summary_text(summary: dict) -> str:
    """One sentence of `circuits.graph.effect_summary`: the features' and the errors' part."""
    f, e = summary["features"], summary["errors"]
    share = f"{f['share']:.2f}" if f["share"] is not None else "-"
    return (
        f"Feature nodes carry {share} of the circuit's summed |effect| ({f['abs_effect']:.1f} "
        f"over {f['nodes']} features against {e['abs_effect']:.1f} over {e['nodes']} error "
        f"nodes; largest single feature {f['largest']:.2f}, error {e['largest']:.2f})."
    )


def sae_eval_markdown(result: dict, label: str) -> str:
    """Per-submodule L0, FVU and spliced CE increase; GSAE next to SSAE when both were evaluated."""
    runs = [(label, result["saes"])] + ([("GSAE", result["gsae"])] if "gsae" in result else [])
    metrics = ("L0", "FVU", "CE +")
    head = "| submodule | " + " | ".join(f"{n} {m}" for n, _ in runs for m in metrics) + " |"
    lines = [head, "|---" * (1 + 3 * len(runs)) + "|"]
    for sub in runs[0][1]["submodules"]:
        cells = []
        for _, r in runs:
            row = r["submodules"][sub]
            ce = row.get("ce_delta", float("nan"))
            cells += [f"{row['l0']:.1f}", f"{row['fvu']:.3f}", f"{ce:.4f}"]
        lines.append(f"| {sub} | " + " | ".join(cells) + " |")
    clean = runs[0][1].get("clean_ce")
    means = " ; ".join(
        f"{name}: mean L0 {r['mean']['l0']:.1f}, FVU {r['mean']['fvu']:.3f}, "
        f"spliced CE +{r['mean'].get('ce_delta') or 0:.4f} nats"
        for name, r in runs
    )
    return "\n".join(lines) + f"\n\nClean CE {clean:.4f} nats/token. {means}.\n"
