"""Pooled-activation extraction throughput: length-sorted batching vs naive (input-order) batching.

Model: a randomly initialised Pythia-70M-shaped GPTNeoX (vocab 50304, hidden 512, 6 layers, 8
heads, intermediate 2048, rotary_pct 0.25) with the real Pythia tokenizer; the probe site is
`resid_out_layer4` and the forward stops there (as `probes.activations` does). Texts are synthetic
biographies whose lengths vary the way Bias in Bios does (a few sentences to a long paragraph).
Throughput counts real (non-pad) tokens per second. Both methods produce the same activations
(checked). Writes benchmarks/results/bench_extraction.json.

    .venv/bin/python benchmarks/bench_extraction.py [--n 192] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import os
import random
import time
from pathlib import Path

import torch

from ssae.io import write_json

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
TOKENIZER = ROOT.parent / "shared" / "assets" / "pythia-tokenizer" / "tokenizer.json"

SENTENCES = [
    "{Sub} is a {job} at {org} in {city}.",
    "{Sub} received {pos} degree from {org} and has worked in the field for {n} years.",
    "{Pos} research focuses on {topic} and {topic2}.",
    "Before joining {org}, {sub} spent {n} years working with patients and families in {city}.",
    "{Sub} has published more than {n} articles on {topic}.",
    "In {pos} free time {sub} enjoys hiking, cooking and reading about {topic2}.",
    "{Sub} is a member of the {org} board and mentors young colleagues.",
    "{Sub} speaks three languages and has lectured on {topic} in {city}.",
]
FILL = dict(
    job=["professor", "nurse", "registered nurse", "associate professor", "nurse practitioner"],
    org=["Stanford University", "the county hospital", "Mercy Medical Center", "MIT", "a clinic"],
    city=["Boston", "Chicago", "Denver", "Atlanta", "Seattle"],
    topic=["machine learning", "pediatric care", "medieval history", "oncology", "economics"],
    topic2=["public health", "statistics", "geriatrics", "poetry", "urban planning"],
)


def bio(rng: random.Random) -> str:
    female = rng.random() < 0.5
    sub, pos = ("she", "her") if female else ("he", "his")
    k = min(len(SENTENCES), max(1, int(rng.expovariate(1 / 3.0)) + 1))
    out = []
    for s in rng.sample(SENTENCES, k):
        vals = {key: rng.choice(v) for key, v in FILL.items()}
        out.append(
            s.format(
                Sub=sub.capitalize(),
                sub=sub,
                Pos=pos.capitalize(),
                pos=pos,
                n=rng.randint(2, 30),
                **vals,
            )
        )
    return " ".join(out)


def build_model():
    from transformers import GPTNeoXForCausalLM, PreTrainedTokenizerFast

    from ssae.models import LoadedModel, pythia70m_config

    torch.manual_seed(0)
    config = pythia70m_config()
    model = GPTNeoXForCausalLM(config).eval()
    tok = PreTrainedTokenizerFast(
        tokenizer_file=str(TOKENIZER),
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )
    return LoadedModel(model=model, tokenizer=tok, name="random-pythia-70m-shape")


def run(lm, texts, batch_size, sort_by_length, max_length):
    from probes.activations import compute_pooled

    t0 = time.perf_counter()
    acts = compute_pooled(
        lm,
        texts,
        "resid_out_layer4",
        batch_size=batch_size,
        max_length=max_length,
        sort_by_length=sort_by_length,
        progress=False,
    )
    return acts, time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=192, help="number of texts")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from probes.activations import naive_batches, tokenize_unpadded

    lm = build_model()
    rng = random.Random(0)
    texts = [bio(rng) for _ in range(args.n)]
    lengths = [len(r) for r in tokenize_unpadded(lm, texts, args.max_length)]
    real = sum(lengths)
    padded_naive = sum(
        len(b) * max(lengths[i] for i in b) for b in naive_batches(len(texts), args.batch_size)
    )
    srt = sorted(lengths, reverse=True)
    padded_sorted = sum(
        len(srt[i : i + args.batch_size]) * srt[i] for i in range(0, len(srt), args.batch_size)
    )

    run(lm, texts[: args.batch_size], args.batch_size, True, args.max_length)  # warm-up
    acts_naive, t_naive = run(lm, texts, args.batch_size, False, args.max_length)
    acts_sorted, t_sorted = run(lm, texts, args.batch_size, True, args.max_length)
    max_diff = float((acts_naive - acts_sorted).abs().max())

    result = {
        "model": "random Pythia-70M-shaped GPTNeoX (512 wide, 6 layers), stop after layer 4",
        "device": "cpu",
        "torch_threads": torch.get_num_threads(),
        "n_texts": len(texts),
        "batch_size": args.batch_size,
        "max_length": args.max_length,
        "tokens_per_text": {"min": min(lengths), "mean": real / len(lengths), "max": max(lengths)},
        "real_tokens": real,
        "padded_tokens_naive": padded_naive,
        "padded_tokens_sorted": padded_sorted,
        "seconds_naive": t_naive,
        "seconds_sorted": t_sorted,
        "tokens_per_s_naive": real / t_naive,
        "tokens_per_s_sorted": real / t_sorted,
        "speedup_sorted_over_naive": t_naive / t_sorted,
        "max_abs_diff_between_methods": max_diff,
    }
    for k in ("tokens_per_s_naive", "tokens_per_s_sorted", "speedup_sorted_over_naive"):
        print(f"{k:>28}: {result[k]:.2f}")
    print(f"{'padding overhead naive':>28}: {padded_naive / real:.2f}x real tokens")
    print(f"{'padding overhead sorted':>28}: {padded_sorted / real:.2f}x real tokens")
    print(f"{'max |naive - sorted|':>28}: {max_diff:.2e}")
    out = ROOT / "benchmarks" / "results" / "bench_extraction.json"
    write_json(out, result)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
