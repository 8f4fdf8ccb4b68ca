"""What one SSAE-study run costs, and what training from an ActivationCache saves.

A study trains many SAEs on the same small selection (8k tokens in the tiny preset), each over
several passes (48k tokens), then evaluates each on the validation, test and OOD splits. On the
tiny world (d = 128, SAE width 1024 at resid_out_layer2):

1. finetuning tokens/s reading activations with a forward pass per step (live) against reading
   every document once into an ActivationCache (cached; the cache build is included);
2. evaluation tokens/s of ssae.evaluate.spliced_metrics (one full forward pass per batch).

Fastest-of-n timings, interleaved, on 1 torch thread (what `shift study` uses for these models).
Writes benchmarks/results/bench_study.json.

    .venv/bin/python benchmarks/bench_study.py [--preset tiny] [--reps 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import torch

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from shift.world import ensure_world  # noqa: E402
from ssae.evaluate import spliced_metrics  # noqa: E402
from ssae.models import load_model  # noqa: E402
from ssae.retrieval.corpus import load_corpus  # noqa: E402
from ssae.sae_set import SAESet  # noqa: E402
from ssae.tokens import TokenDataset  # noqa: E402
from ssae.train import TrainConfig, train_saes  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "bench_study.json"
SITE = "resid_out_layer2"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--select-tokens", type=int, default=8_000)
    ap.add_argument("--train-tokens", type=int, default=48_000)
    args = ap.parse_args()
    torch.set_num_threads(1)

    world = ensure_world(args.preset)
    lm = load_model(str(world.model))
    corpus = load_corpus(str(world.corpus))
    ctx_len = world.read_manifest()["config"]["model"]["ctx_len"]
    tokens = TokenDataset.from_texts(corpus.texts[:400], lm.tokenizer, ctx_len=ctx_len)
    keep = int(torch.searchsorted(tokens.lengths.long().cumsum(0), args.select_tokens)) + 1
    selection = tokens.subset(torch.arange(keep))
    width = 8 * lm.d_model
    results = {"live": [], "cached": []}
    tmp = Path(tempfile.mkdtemp(prefix="bench_study."))
    for rep in range(args.reps):
        for mode in ("live", "cached"):  # interleaved: a shared machine's load hits both
            cfg = TrainConfig(
                dict_size=width,
                n_tokens=args.train_tokens,
                names=[SITE],
                progress=False,
                seed=rep,
                cache_activations=mode == "cached",
            )
            out = tmp / f"{mode}-{rep}"
            t0 = time.perf_counter()
            saes = train_saes(lm, selection, cfg, out)
            results[mode].append(saes.meta["n_tokens"] / (time.perf_counter() - t0))
    shutil.rmtree(tmp, ignore_errors=True)
    sae = SAESet.new(lm, width, names=[SITE])[SITE]
    evals = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        row = spliced_metrics(lm, SITE, sae, selection, batch_docs=32)
        evals.append(row["n_tokens"] / (time.perf_counter() - t0))
    report = {
        "preset": args.preset,
        "submodule": SITE,
        "sae_width": width,
        "selection_tokens": selection.n_tokens,
        "train_tokens": args.train_tokens,
        "train_tokens_per_s_live": max(results["live"]),
        "train_tokens_per_s_cached": max(results["cached"]),
        "speedup_cached": max(results["cached"]) / max(results["live"]),
        "eval_tokens_per_s": max(evals),
        "threads": 1,
        "load_average": os.getloadavg(),
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(report, indent=1))
    OUT.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
