"""Command-line arguments shared by the benchmarks that run the SHIFT pipeline (`shift run`)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def run_parser(description: str, runs: str, max_k: int, examples: int) -> argparse.ArgumentParser:
    """--preset, --seed, --max-k, --circuit-examples, --ig-steps, --runs (run reports), --out
    (results)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--preset", default="micro")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-k", type=int, default=max_k)
    parser.add_argument("--circuit-examples", type=int, default=examples)
    parser.add_argument("--ig-steps", type=int, default=10)
    parser.add_argument("--runs", type=Path, default=Path("runs") / runs)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    return parser


def offline_one_thread() -> None:
    """Benchmarks never touch the hub, and tiny models run fastest on one thread."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(1)
