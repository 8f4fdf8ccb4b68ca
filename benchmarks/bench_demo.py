"""`make demo` from an empty $SHIFT_HOME: wall time, peak memory and each stage's own figures.

Runs `shift run --dataset bib --method ssae --preset tiny` (what `make demo` runs) in a fresh
SHIFT_HOME, then reads every stage's DONE.json (seconds, torch threads, process id) and the world's
manifest (its build steps). The corpus embedding for retrieval runs in a child process beside the
LM's one-thread training; `retrieve_embedding_beside_s` is how long the world build then waited for
it, and the `retrieve` stage's own seconds are what was left of it. `sequential_s` is the sum of
the world's and the stages' seconds; the wall time adds process start, model loading and report.

    .venv/bin/python benchmarks/bench_demo.py [--home DIR] [--out runs/demo-bench]
    .venv/bin/python benchmarks/bench_demo.py --collect runs/demo --home H --wall-s 1234

`--collect` reads a finished run (its report folder and SHIFT_HOME) instead of running one.
Writes benchmarks/results/demo_timing.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMAND = ["run", "--dataset", "bib", "--method", "ssae", "--preset", "tiny"]


def run_demo(home: Path, out: Path) -> dict:
    env = {**os.environ, "SHIFT_HOME": str(home)}
    shift = Path(sys.executable).with_name("shift")
    t0 = time.perf_counter()
    subprocess.run([str(shift), *COMMAND, "--out", str(out)], env=env, check=True)
    wall = time.perf_counter() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"wall_s": round(wall, 1), "peak_rss_mib_any_process": round(peak_kib / 1024, 1)}


def collect(out: Path, home: Path) -> dict:
    results = json.loads((out / "results.json").read_text())
    stages = {}
    for stage, key in results["stage_keys"].items():
        done = json.loads((home / "stages" / stage / key / "DONE.json").read_text())
        stages[stage] = {
            "seconds": round(done["seconds"], 1),
            "peak_rss_mib": done.get("peak_rss_mib"),
            "torch_threads": done.get("torch_threads"),
            "pid": done.get("pid"),
        }
    world = json.loads(next((home / "worlds").glob("tiny-seed*/manifest.json")).read_text())
    steps = world["timings_s"]
    return {
        "world_s": steps["total"],
        "world_steps_s": steps,
        "retrieve_embedding_beside_s": steps.get("beside_wait"),
        "stages": stages,
        "sequential_s": round(steps["total"] + sum(s["seconds"] for s in stages.values()), 1),
        "table": results["rows"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--home", type=Path, help="SHIFT_HOME (default: a new temporary folder)")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "demo-bench")
    ap.add_argument("--collect", type=Path, help="report folder of a finished run to read")
    ap.add_argument("--wall-s", type=float, help="with --collect: the run's measured wall time")
    ap.add_argument("--result", type=Path, default=ROOT / "benchmarks/results/demo_timing.json")
    args = ap.parse_args()
    if args.collect:
        if args.home is None:
            ap.error("--collect needs --home")
        figures = {"wall_s": args.wall_s, **collect(args.collect, args.home)}
    else:
        home = args.home or Path(tempfile.mkdtemp(prefix="shift-demo-"))
        if home.exists() and any(home.iterdir()):
            ap.error(f"{home} is not empty: the demo is timed from an empty SHIFT_HOME")
        figures = run_demo(home, args.out)
        figures |= collect(args.out, home)
    figures["cores"] = os.cpu_count()
    figures["command"] = "shift " + " ".join(COMMAND)
    if figures.get("wall_s"):
        figures["outside_stages_s"] = round(figures["wall_s"] - figures["sequential_s"], 1)
    args.result.parent.mkdir(parents=True, exist_ok=True)
    args.result.write_text(json.dumps(figures, indent=2) + "\n")
    for name, s in figures["stages"].items():
        print(f"{name:15s} {s['seconds']:7.1f} s  threads {s['torch_threads']}  pid {s['pid']}")
    print(
        f"world {figures['world_s']} s; stages and world {figures['sequential_s']} s; "
        f"wall {figures.get('wall_s')} s"
    )


if __name__ == "__main__":
    main()
