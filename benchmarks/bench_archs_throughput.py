"""Training throughput of every SAE architecture on the tiny world, as a ratio to ReLU's.

One run, interleaved so that the load of a shared machine hits every architecture alike: for each
batch of corpus documents the LM's activations of the 16 edited submodules are read once (timed:
the shared forward pass), then one training step of each architecture's 16 SAEs (width 1024, the
preset's recipe with the architecture's setting) is timed on those same activations. Reported per
architecture: SAE-step tokens/s, end-to-end tokens/s (forward + step, what `train_saes` does per
batch) and both as a ratio to ReLU's (issue 28's bar: >= 0.67). Writes
benchmarks/results/bench_archs_throughput.json.

    python benchmarks/bench_archs_throughput.py --steps 40 --threads 1
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import time
from pathlib import Path

import click
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

RESULTS = Path(__file__).resolve().parent / "results" / "bench_archs_throughput.json"
SETTINGS = {
    "relu": {},
    "random-decoder": {},
    "topk": {"k": 28},
    "batchtopk": {"k": 28},
    "jumprelu": {"target_l0": 28.0},
    "matryoshka": {"k": 28},
    "ortsae": {"k": 28},
}
"""Sparsity of each architecture for this measurement (k about the ReLU GSAEs' L0; the time of a
step barely depends on it)."""


@click.command()
@click.option("--steps", default=40, show_default=True, help="Timed batches per architecture.")
@click.option("--threads", default=1, show_default=True, help="torch threads.")
@click.option("--batch-docs", default=16, show_default=True, help="Documents per batch.")
def main(steps, threads, batch_docs):
    from shift.presets import get_preset
    from ssae.activations import read_activations
    from ssae.arch_config import ArchConfig
    from ssae.io import write_json
    from ssae.models import load_model
    from ssae.retrieval.corpus import load_corpus
    from ssae.sae_set import SAESet
    from ssae.tokens import TokenDataset
    from ssae.trainer import MultiSAETrainer

    torch.set_num_threads(threads)
    preset = get_preset("tiny").resolve()
    lm = load_model(preset.model)
    names = preset.submodule_names
    specs = [lm.submodule(n) for n in names]
    corpus = load_corpus(preset.corpus)
    docs = (steps + 2) * batch_docs
    tokens = TokenDataset.from_texts(corpus.texts[:docs], lm.tokenizer, ctx_len=preset.ctx_len)
    trainers = {}
    for name, kw in SETTINGS.items():
        arch = ArchConfig(name, **kw)
        saes = SAESet.new(specs, preset.sae_width, seed=0, arch=arch)
        cfg = dataclasses.replace(preset.gsae_recipe(), arch=arch)
        trainers[name] = MultiSAETrainer(dict(saes.items()), cfg, total_steps=10 * steps)
    forward_s, step_s = [], {name: [] for name in SETTINGS}
    n_tokens = []
    for b in range(steps + 2):
        rows = torch.arange(b * batch_docs, (b + 1) * batch_docs)
        width = int(tokens.lengths[rows].max())
        batch = {
            "input_ids": tokens.input_ids[rows, :width].long(),
            "attention_mask": tokens.attention_mask(rows)[:, :width],
        }
        t0 = time.perf_counter()
        acts = read_activations(lm, specs, batch)
        keep = batch["attention_mask"].bool()
        xs = {n: a[keep] for n, a in acts.items()}
        t_forward = time.perf_counter() - t0
        for name, trainer in trainers.items():
            t0 = time.perf_counter()
            trainer.step(xs)
            if b >= 2:  # two warm-up batches
                step_s[name].append(time.perf_counter() - t0)
        if b >= 2:
            forward_s.append(t_forward)
            n_tokens.append(int(keep.sum()))
    tok = sum(n_tokens)
    fwd = sum(forward_s)
    result = {"steps": steps, "threads": threads, "tokens": tok, "forward_s": fwd, "archs": {}}
    base = None
    for name, times in step_s.items():
        step_total = sum(times)
        row = {
            "step_tokens_per_s": tok / step_total,
            "end_to_end_tokens_per_s": tok / (step_total + fwd),
            "median_step_ms": 1000 * statistics.median(times),
        }
        base = base or row
        row["step_ratio_to_relu"] = row["step_tokens_per_s"] / base["step_tokens_per_s"]
        row["end_to_end_ratio_to_relu"] = (
            row["end_to_end_tokens_per_s"] / base["end_to_end_tokens_per_s"]
        )
        result["archs"][name] = row
        print(
            f"{name:15s} step {row['step_tokens_per_s']:8.0f} tok/s ({row['step_ratio_to_relu']:.2f}x)"
            f"  end to end {row['end_to_end_tokens_per_s']:8.0f} tok/s "
            f"({row['end_to_end_ratio_to_relu']:.2f}x)"
        )
    from shift.provenance import for_run

    result["load_average_1min"] = round(os.getloadavg()[0], 2)  # other work on the same cores
    result["provenance"] = for_run(get_preset("tiny"))
    write_json(RESULTS, result)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
