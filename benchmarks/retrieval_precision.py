"""Retrieval precision on a built-in world: dense, BM25 and both TracIn variants in one table.

Seeds are 5 professor/nurse biographies of the world's BiB train split (as `shift run` picks
them); precision is the fraction of selected documents whose topic label is `biography`. TracIn
uses the general SAEs of a finished `shift run` (the newest `gsae` stage under $SHIFT_HOME unless
`--sae-folder` is given).

    .venv/bin/python benchmarks/retrieval_precision.py [--preset tiny] [--budget 20000]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from shift.data.bib import load_bib, seed_examples
from shift.presets import get_preset
from ssae.io import shift_home, write_json
from ssae.models import load_model
from ssae.retrieval.evaluate import compare_methods, render_precision_table

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--budget", type=int, default=None, help="tokens [default: the preset's]")
    ap.add_argument("--sae-folder", dest="saes", default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    preset = get_preset(args.preset).resolve()
    budget = args.budget or preset.retrieval.budget_tokens
    saes = args.saes
    if saes is None:
        runs = sorted(
            (shift_home() / "stages" / "gsae").glob("*/run"), key=lambda p: p.stat().st_mtime
        )
        saes = str(runs[-1]) if runs else None
    lm = load_model(preset.model)
    seeds = seed_examples(load_bib(preset.bib, splits=("train",)), preset.retrieval.n_seeds)
    out = Path(args.out or shift_home() / "retrieval-precision" / args.preset)
    rows, _ = compare_methods(
        str(preset.corpus),
        seeds,
        "biography",
        lm,
        out,
        budget,
        saes=saes,
        ctx_len=preset.ctx_len,
        embedder=preset.retrieval.embedder,
    )
    print(render_precision_table(rows, "biography"))
    result = {"preset": args.preset, "budget_tokens": budget, "saes": saes, "rows": rows}
    dest = ROOT / "benchmarks" / "results" / f"retrieval_precision_{args.preset}.json"
    write_json(dest, result)
    print(f"wrote {dest}")


if __name__ == "__main__":
    main()
