"""Bad input at the door: how long `shift run` takes to refuse each one, and what it prints.

Each case runs `shift run --dataset bib --method ssae --preset tiny` with one bad option as a fresh
process on an empty cache (a new `$SHIFT_HOME`), the way a new user meets it. Recorded per case:
the exit status, wall seconds, the number of stderr lines, whether a traceback was printed, the
last stderr line, and whether anything was cached (a world or a stage) before the refusal.
The bar (issue 14): non-zero exit within 60 s, one line, no traceback, nothing built.

    .venv/bin/python benchmarks/bench_bad_inputs.py [--preset tiny]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHIFT = Path(sys.executable).with_name("shift")


def cases(tmp: Path) -> dict[str, list[str]]:
    """The test suite's bad inputs (tests/shift/bad_inputs.py), named by their arguments."""
    sys.path.insert(0, str(ROOT))
    from tests.shift.bad_inputs import bad_arguments

    return {" ".join(a).replace(str(tmp) + "/", ""): a for a, _ in bad_arguments(tmp)}


def run_case(args: list[str], preset: str, tmp: Path) -> dict:
    home = Path(tempfile.mkdtemp(prefix="home-", dir=tmp))
    env = {**os.environ, "SHIFT_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    env.pop("SHIFT_DEBUG", None)
    argv = [str(SHIFT), "run", "--dataset", "bib", "--method", "ssae", "--preset", preset]
    if "--out" not in args:
        argv += ["--out", str(tmp / "report")]
    t0 = time.perf_counter()
    proc = subprocess.run(argv + args, capture_output=True, text=True, env=env, timeout=3600)
    seconds = time.perf_counter() - t0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    return {
        "exit": proc.returncode,
        "seconds": round(seconds, 2),
        "stderr_lines": len(lines),
        "traceback": "Traceback" in proc.stderr,
        "line": lines[-1] if lines else "",
        "cached_anything": any((home / d).exists() for d in ("worlds", "stages")),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "bad_inputs.json")
    args = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in cases(Path(tmp)).items():
            r = run_case(extra, args.preset, Path(tmp))
            results[name] = r
            print(f"{name:32s} exit {r['exit']}  {r['seconds']:6.2f}s  {r['line']}", flush=True)
    ok = all(
        r["exit"] != 0
        and r["seconds"] < 60
        and r["stderr_lines"] == 1
        and not r["traceback"]
        and not r["cached_anything"]
        for r in results.values()
    )
    print(f"bar (non-zero exit < 60 s, one line, no traceback, nothing built): {ok}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "preset": args.preset,
        "cpu_count": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),  # other processes on the same cores
        "all_pass": ok,
        "cases": results,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
