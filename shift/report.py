"""The results table of a SHIFT run: JSON for programs, Markdown for people, the paper for reference."""

from __future__ import annotations

import json
from pathlib import Path

from ssae.io import write_json, write_text

COLUMNS = ("profession_acc", "gender_acc", "worst_group_acc")

# Pythia-70M-deduped, balanced BiB test set (Muhamed et al. 2024, Table 1; Marks et al. 2024).
PAPER_TABLE = {
    "Original": (61.9, 87.4, 24.4),
    "CBP": (83.3, 60.1, 67.7),
    "Neuron skyline": (75.5, 73.2, 41.5),
    "GSAE SHIFT": (88.5, 54.0, 76.0),
    "SSAE SHIFT": (90.2, 53.4, 88.5),
    "GSAE SHIFT + retrain": (93.1, 52.0, 89.0),
    "SSAE SHIFT + retrain": (93.4, 51.9, 89.5),
    "Comp. GSAE SHIFT": (80.5, 68.2, 48.6),
    "Comp. SSAE SHIFT": (89.6, 52.2, 78.8),
    "Comp. GSAE SHIFT + retrain": (80.0, 68.8, 57.1),
    "Comp. SSAE SHIFT + retrain": (93.2, 52.1, 88.5),
    "Oracle": (93.0, 49.4, 91.9),
}


def markdown_table(rows: list[dict], paper: bool = False) -> str:
    head = "| method | profession | gender | worst group |"
    sep = "|---|---|---|---|"
    if paper:
        head += " paper (prof / gender / worst) |"
        sep += "---|"
    lines = [head, sep]
    for r in rows:
        cells = " | ".join(f"{100 * r[c]:.1f}" for c in COLUMNS)
        line = f"| {r['method']} | {cells} |"
        if paper:
            ref = PAPER_TABLE.get(r["method"])
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
