"""SAE evaluation cost: every edited pass run in full, against skipping the clean layers below it.

`evaluate_sae_sets` runs, per batch, one clean pass, one zero-ablation pass per submodule and one
spliced pass per SAE. An edit at layer L leaves layers 0..L-1 as in the clean pass, so the edited
pass can take their outputs from it (`run_with_edits(..., prefix=...)`) and run from layer L. This
times both on the same texts and SAE sets and checks that every figure is the same.

Model: the tiny world's LM (built on first use); two sets of 16 random ReLU SAEs of width 1024
(embed and attn/mlp/resid of layers 0..4), as `shift run --method ssae` evaluates an SSAE next to
its GSAE; texts: the world's test biographies.

    .venv/bin/python benchmarks/bench_sae_eval.py [--docs 96] [--threads 2]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from pathlib import Path
from unittest import mock

import pandas as pd
import torch

import ssae.evaluate
from ssae.evaluate import evaluate_sae_sets
from ssae.models import load_model
from ssae.sae_set import SAESet
from ssae.tokens import TokenDataset

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=96)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/bench_sae_eval.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from shift.world import ensure_world

    world = ensure_world("tiny")
    lm = load_model(world.model)
    texts = pd.read_parquet(world.bib / "test.parquet")["hard_text"].tolist()[: args.docs]
    tokens = TokenDataset.from_texts(texts, lm.tokenizer, ctx_len=128, source="tiny test bios")
    names = [s.name for s in lm.submodules(layers=range(5))]
    sets = {k: SAESet.new(lm, 1024, seed=i).subset(names) for i, k in enumerate(("saes", "gsae"))}

    def timed(**patch):
        with mock.patch.multiple(ssae.evaluate, **patch) if patch else contextlib.nullcontext():
            t0 = time.perf_counter()
            result = evaluate_sae_sets(lm, sets, tokens, progress=False)
            return time.perf_counter() - t0, result

    full_s, full = timed(resid_prefix=lambda lm, acts, spec: [])
    skip_s, skip = timed()
    diff = max(
        abs(full[k]["submodules"][n][m] - skip[k]["submodules"][n][m])
        for k in sets
        for n in names
        for m in ("ce_spliced", "ce_zero", "l0", "fvu")
    )
    figures = {
        "docs": len(tokens),
        "tokens": tokens.n_tokens,
        "saes": sum(len(s) for s in sets.values()),
        "threads": args.threads,
        "full_passes_s": round(full_s, 2),
        "prefix_skip_s": round(skip_s, 2),
        "speedup": round(full_s / skip_s, 3),
        "max_abs_difference": diff,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
