"""Two identical `shift run`s started together on an empty cache, against one run alone.

With a per-stage lock the second run waits for each stage the first is computing and then reuses
it, so each stage is computed once and the pair takes about as long as one run (before issue 14
both computed every stage in the same folders: 186 s each against 37 s alone). The world is built
first and shared (it has its own lock); every other cache starts empty for each measurement.

Recorded: wall seconds of the run alone and of the pair (until both finish), how often each stage
was computed (its `[stage] running` lines over both processes' stderr), and whether the two
reports' result rows equal the lone run's.

    .venv/bin/python benchmarks/bench_concurrent_runs.py [--preset micro] [--method ssae]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHIFT = Path(sys.executable).with_name("shift")
# The test-sized options of tests/shift/test_pipeline.py: minutes become tens of seconds.
QUICK = ["--max-k", "20", "--circuit-examples", "32", "--ig-steps", "4"]


def shift_cmd(home: Path, *args: str) -> tuple[list[str], dict]:
    env = {**os.environ, "SHIFT_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    return [str(SHIFT), *args], env


def empty_cache_but_world(home: Path) -> None:
    for child in home.iterdir():
        if child.name != "worlds":
            shutil.rmtree(child)


def start_runs(home: Path, outs: list[Path], preset: str, sae: str) -> dict:
    t0 = time.perf_counter()
    procs = []
    for out in outs:
        argv, env = shift_cmd(
            home, "run", "--dataset", "bib", "--method", sae, "--preset", preset, "--out", str(out)
        )
        procs.append(
            subprocess.Popen(argv + QUICK, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        )
    finished, logs = [], []
    for p in procs:
        _, err = p.communicate()
        finished.append(time.perf_counter() - t0)
        logs.append(err.decode())
        if p.returncode != 0:
            raise SystemExit(f"shift run failed:\n{logs[-1][-3000:]}")
    computed = Counter(
        m.group(1) for log in logs for m in re.finditer(r"^\[([\w-]+)\] running$", log, re.M)
    )
    waited = sum(log.count("another run is computing this stage") for log in logs)
    rows = [json.loads((out / "results.json").read_text())["rows"] for out in outs]
    return {
        "wall_s": round(max(finished), 1),
        "per_run_s": [round(s, 1) for s in finished],
        "computed": dict(computed),
        "waits": waited,
        "rows": rows,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="micro")
    ap.add_argument("--method", "--sae", dest="method", default="ssae")
    ap.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "concurrent_runs.json"
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        argv, env = shift_cmd(home, "world", "build", "--preset", args.preset)
        subprocess.run(argv, env=env, check=True, capture_output=True)

        empty_cache_but_world(home)
        alone = start_runs(home, [Path(tmp) / "alone"], args.preset, args.method)
        print(f"one run alone: {alone['wall_s']} s; stages computed {alone['computed']}")

        empty_cache_but_world(home)
        pair = start_runs(home, [Path(tmp) / "a", Path(tmp) / "b"], args.preset, args.method)
        print(
            f"two runs together: {pair['wall_s']} s (each {pair['per_run_s']}); "
            f"stages computed {pair['computed']}; waits {pair['waits']}"
        )
    once = all(n == 1 for n in pair["computed"].values())
    same = all(rows == alone["rows"][0] for rows in pair["rows"])
    print(f"each stage computed once: {once}; results equal the lone run's: {same}")
    report = {
        "preset": args.preset,
        "method": args.method,
        "options": QUICK,
        "cpu_count": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),  # other processes on the same cores
        "alone_s": alone["wall_s"],
        "pair_s": pair["wall_s"],
        "pair_per_run_s": pair["per_run_s"],
        "computed_alone": alone["computed"],
        "computed_pair": pair["computed"],
        "waits": pair["waits"],
        "each_stage_once": once,
        "same_results": same,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
