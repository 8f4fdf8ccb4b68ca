"""A process that runs one toy stage through `StageRunner`, for the kill and concurrency tests.

    python cache_worker.py ROOT LOG [--hang-after N] [--verify]

The stage writes four checkpoint files (`part0..3.bin`, each an atomic write of deterministic
bytes) and then `summary.json`; like SAE training it skips checkpoints that already exist, so a
rerun after a kill resumes. Every part it computes appends a line to LOG, which is how a test counts
the work done. `--hang-after N` touches `LOG.ready` after writing part N and sleeps until killed.
The last stdout line is JSON: {"dir", "cached", "after_crash"}.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path

from shift.cache import StageRunner
from ssae.io import atomic_path, write_json


def part_bytes(i: int) -> bytes:
    return b"".join(hashlib.sha256(f"{i}:{j}".encode()).digest() for j in range(2000))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("root", type=Path)
    ap.add_argument("log", type=Path)
    ap.add_argument("--hang-after", type=int, default=None)
    ap.add_argument("--seconds", type=float, default=0.3, help="time each part takes")
    ap.add_argument("--verify", action="store_true")
    args = ap.parse_args()

    def stage(d: Path) -> dict:
        for i in range(4):
            path = d / "parts" / f"part{i}.bin"
            if path.exists():
                continue
            with open(args.log, "a") as f:
                f.write(f"{os.getpid()} part{i}\n")
            time.sleep(args.seconds)
            with atomic_path(path) as tmp:
                tmp.write_bytes(part_bytes(i))
            if args.hang_after == i:
                Path(f"{args.log}.ready").touch()
                time.sleep(600)
        write_json(d / "summary.json", {"parts": 4})
        return {"parts": 4}

    runner = StageRunner(root=args.root, quiet=True, **({"verify": True} if args.verify else {}))
    st = runner.run("toy", {"x": 1}, stage)
    crash = getattr(runner, "after_crash", None)
    print(json.dumps({"dir": str(st.dir), "cached": st.cached, "after_crash": crash}))


if __name__ == "__main__":
    main()
