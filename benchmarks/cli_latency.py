"""How fast the `shift` command answers what needs no model: `--help` of every command, and bad
options refused at the door.

Each case runs `python -m shift.cli ARGS` as a fresh process (an empty `$SHIFT_HOME`, offline):
one warm-up run, then `--runs` timed runs; the median wall time is the figure (the bar, issue 31:
under 1 s on 2 cores). One more run per case reports whether torch was imported. The yardstick
in the same run is `python -c "import torch"`, what any command that imports torch pays at
least; with `--baseline DIR` (another checkout, e.g. the commit before this change) the cases
both versions accept are timed there too, interleaved with this one, and the ratio is reported.

    .venv/bin/python benchmarks/cli_latency.py [--runs 5] [--baseline /path/to/old/checkout]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ("world", "probe", "sae", "retrieve", "circuit", "run", "bench", "study")
RUN = ["run", "--preset", "micro"]


def cases(tmp: Path) -> dict[str, tuple[list[str], bool]]:
    """name -> (arguments, whether an older version accepts the same arguments)."""
    bad_utf8 = tmp / "features.txt"
    bad_utf8.write_bytes("resid_out_layer2/3 r\xe9sum\xe9\n".encode("latin-1"))
    out = ["--out", str(tmp / "report")]
    table = {"shift --help": (["--help"], True)}
    table |= {f"shift {c} --help": ([c, "--help"], True) for c in COMMANDS}
    table |= {
        "shift sae eval --help": (["sae", "eval", "--help"], True),
        "shift circuit compute --help": (["circuit", "compute", "--help"], True),
        "run --method bogus": (["run", "--method", "bogus"], True),
        "run --saes DIR (retired)": (["run", "--saes", "dictionaries"], False),
        "run --tilt -1": ([*RUN, *out, "--tilt", "-1"], True),
        "run --device bogus": ([*RUN, *out, "--device", "bogus"], True),
        "run --professions nurse": ([*RUN, *out, "--professions", "nurse"], True),
        "run --features non-UTF-8": ([*RUN, *out, "--features", str(bad_utf8)], True),
        "run --out /proc/x": ([*RUN, "--out", "/proc/x"], True),
        "bench --methods gsae,nope": (
            ["bench", "--methods", "gsae,nope", "--preset", "micro"],
            False,
        ),
        "sae eval without --data/--corpus": (
            ["sae", "eval", "--model", "m", "--sae-folder", str(tmp), "--out", "o.json"],
            False,
        ),
    }
    return table


def _env(root: Path, home: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(root), "SHIFT_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    env.pop("SHIFT_DEBUG", None)
    return env


def _once(argv: list[str], root: Path, home: Path) -> tuple[float, int]:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, env=_env(root, home), cwd=root, timeout=600)
    return time.perf_counter() - t0, proc.returncode


def _summary(times: list[float]) -> dict:
    return {
        "median_s": round(statistics.median(times), 3),
        "min_s": round(min(times), 3),
        "max_s": round(max(times), 3),
    }


def imports_torch(args: list[str], root: Path, home: Path) -> bool:
    code = (
        "import sys\nfrom shift.cli import main\ntry:\n    main(sys.argv[1:])\n"
        "except SystemExit:\n    pass\nprint('torch' in sys.modules, file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=_env(root, home)
    )
    return proc.stderr.strip().splitlines()[-1] == "True"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--baseline", type=Path, default=None, help="Another checkout to compare.")
    ap.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "cli_latency.json"
    )
    args = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        home = tmp / "home"
        shift = [sys.executable, "-m", "shift.cli"]
        torch_times = []
        for _ in range(args.runs + 1):
            torch_times.append(_once([sys.executable, "-c", "import torch"], ROOT, home)[0])
        yardstick = _summary(torch_times[1:])
        label = 'python -c "import torch"'
        print(f"{label:36s} {yardstick['median_s']:6.2f} s (yardstick)")
        for name, (extra, shared) in cases(tmp).items():
            roots = [ROOT] + ([args.baseline] if args.baseline and shared else [])
            times: dict[Path, list[float]] = {r: [] for r in roots}
            codes = set()
            for i in range(args.runs + 1):  # run 0 warms the file cache, not counted
                for r in roots:  # interleaved, so a drift of the machine's speed hits both
                    seconds, code = _once(shift + extra, r, home)
                    if i:
                        times[r].append(seconds)
                    if r == ROOT:
                        codes.add(code)
            row = {"args": extra, **_summary(times[ROOT]), "exit_codes": sorted(codes)}
            row["imports_torch"] = imports_torch(extra, ROOT, home)
            if args.baseline and shared:
                row["baseline"] = _summary(times[args.baseline])
                row["speedup"] = round(row["baseline"]["median_s"] / row["median_s"], 1)
            results[name] = row
            extra_text = (
                f"  baseline {row['baseline']['median_s']:.2f} s" if "baseline" in row else ""
            )
            print(
                f"{name:36s} {row['median_s']:6.2f} s  exit {row['exit_codes']}  "
                f"torch {row['imports_torch']}{extra_text}",
                flush=True,
            )
        worlds_built = (home / "worlds").exists()
    slowest = max(r["median_s"] for r in results.values())
    bar = slowest < 1.0 and not any(r["imports_torch"] for r in results.values())
    print(f"slowest median {slowest:.2f} s; bar (every case < 1 s, no torch): {bar}")
    report = {
        "runs": args.runs,
        "cpu_count": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),  # other processes on the same cores
        "python": sys.version.split()[0],
        "import_torch": yardstick,
        "baseline": str(args.baseline) if args.baseline else None,
        "slowest_median_s": slowest,
        "all_pass": bar,
        "worlds_built": worlds_built,
        "cases": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
