"""Seconds of one bench cell, stage by stage: a new run seed of `shift run --method gsae` on the
tiny world with the world, the GSAEs and the probes' pooled activations already cached.

It runs `shift run --preset tiny --method METHOD --seed S --no-circuit-graph --no-sae-eval`
(`--seed` a run seed no earlier run used, so every seed-dependent stage computes: probes,
gender effects, skyline, shift) in this process, after one run of seed 0 that fills the caches,
and writes each stage's seconds and peak resident memory (from the run's results.json), the
total, the thread count and the load average to benchmarks/results/bench_cell.json. Issue 29's
bar is 200 s on 2 idle cores; what each stage costs against the matmul limit is in
benchmarks/results/roofline.json (`benchmarks/roofline.py`).

    python benchmarks/bench_cell.py --seed 1001 [--method gsae] [--threads 2]
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import click

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

RESULTS = Path(__file__).resolve().parent / "results" / "bench_cell.json"


@click.command()
@click.option("--seed", default=1001, show_default=True, help="A run seed no run used yet.")
@click.option("--method", default="gsae", show_default=True)
@click.option("--arch", default="relu", show_default=True)
@click.option("--threads", default=2, show_default=True, help="torch threads.")
@click.option("--out", default="/tmp/bench-cell", show_default=True, type=click.Path())
def main(seed, method, arch, threads, out):
    import torch

    from shift.config import RunConfig
    from shift.pipeline import run_pipeline
    from ssae.io import write_json

    torch.set_num_threads(threads)
    common = dict(preset="tiny", method=method, arch=arch, circuit_graph=False, sae_eval=False)
    t0 = time.perf_counter()
    run_pipeline(RunConfig.from_options(seed=0, out=Path(out) / "seed0", **common), quiet=True)
    warm = time.perf_counter() - t0
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    cfg = RunConfig.from_options(seed=seed, out=Path(out) / f"seed{seed}", **common)
    result = run_pipeline(cfg, quiet=True)
    total = time.perf_counter() - t0
    saved = json.loads((cfg.out / "results.json").read_text())
    record = {
        "command": f"shift run --preset tiny --method {method} --arch {arch} --seed {seed} "
        "--no-circuit-graph --no-sae-eval",
        "total_s": round(total, 1),
        "stages_s": saved["timings_s"],
        "cached": result["cached"],
        "peak_rss_mib": saved["peak_rss_mib"],
        "threads": threads,
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "warm_up_run_s": round(warm, 1),
        "rows": {r["method"]: r["worst_group_acc"] for r in result["rows"]},
        "k": result["k"],
        "provenance": saved["provenance"],
    }
    write_json(RESULTS, record)
    for stage, s in saved["timings_s"].items():
        print(f"{stage:20s} {s:8.1f} s" + (" (cached)" if stage in result["cached"] else ""))
    print(f"total {total:.1f} s; wrote {RESULTS}")


if __name__ == "__main__":
    main()
