"""Skyline sweep cost: rerunning the model for each k, against `AblationEvaluator`.

The skyline evaluates the probe under k = 1..K ablated features on one fixed text set. Three ways:
- naive: for every k, tokenize, run the whole model (all layers and the unembedding) with forward
  hooks doing the ablation, and pool the probe layer;
- per k: `AblationEvaluator.pooled` for each k: tokenize once into length-sorted batches, skip the
  layers below the lowest ablated submodule (clean residual stream cached), stop after the probe;
- sweep: `AblationEvaluator.pooled_sweep` (what the skyline runs): as per k, and each k reuses
  k - 1's residual stream below the layer of the feature it adds, so only that layer onwards runs.
All three give the same pooled activations (max abs differences printed; sweep vs per k is 0).

Model: a randomly initialised Pythia-70M-shaped GPTNeoX with 16 random ReLU SAEs (embed and
attn/mlp/resid of layers 0..4); the ranked features are drawn at random across submodules.

    .venv/bin/python benchmarks/bench_skyline.py [--texts 32] [--tokens 64] [--k 12] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
from transformers import GPTNeoXForCausalLM, PreTrainedTokenizerFast

from circuits.metrics import mean_pool
from shift.ablation import AblationEvaluator, ablate
from shift.skyline import RankedFeature, feature_set
from ssae.archs import AutoEncoder
from ssae.io import write_json
from ssae.models import LoadedModel, pythia70m_config

ROOT = Path(__file__).resolve().parents[1]
TOKENIZER = ROOT.parent / "shared" / "assets" / "pythia-tokenizer" / "tokenizer.json"
WORDS = "she he professor nurse hospital university research patients lectures care clinic".split()


def naive_pooled(lm: LoadedModel, saes, features, texts, probe_layer: int, batch_size: int):
    hooks = []
    for name, idx in features.items():

        def hook(module, args, output, sae=saes[name], idx=idx):
            x = output[0] if isinstance(output, tuple) else output
            new = ablate(sae, x, idx)
            return (new, *output[1:]) if isinstance(output, tuple) else new

        hooks.append(lm.submodule(name).module(lm.model).register_forward_hook(hook))
    # Registered last, so it sees the probe layer's output after any ablation hook on it.
    seen = {}
    probe = lm.submodule(f"resid_out_layer{probe_layer}").module(lm.model)
    hooks.append(probe.register_forward_hook(lambda m, a, o: seen.update(x=o)))
    out = []
    try:
        with torch.no_grad():
            for start in range(0, len(texts), batch_size):
                enc = lm.tokenize(texts[start : start + batch_size], max_length=128)
                lm.model(**enc)  # the whole model, unembedding included, as a naive rerun does
                x = seen["x"][0] if isinstance(seen["x"], tuple) else seen["x"]
                out.append(mean_pool(x, enc["attention_mask"]))
    finally:
        for h in hooks:
            h.remove()
    return torch.cat(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--texts", type=int, default=64)
    ap.add_argument("--tokens", type=int, default=64, help="approximate words per text")
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--width", type=int, default=4096)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bench_skyline.json"))
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    tok = PreTrainedTokenizerFast(
        tokenizer_file=str(TOKENIZER), eos_token="<|endoftext|>", pad_token="<|endoftext|>"
    )
    cfg = pythia70m_config()
    lm = LoadedModel(GPTNeoXForCausalLM(cfg).eval(), tok, "random-pythia-70m-shape")
    specs = lm.submodules(layers=range(5))
    saes = {s.name: AutoEncoder(512, args.width) for s in specs}
    gen = torch.Generator().manual_seed(1)
    texts = [
        " ".join(WORDS[int(i)] for i in torch.randint(len(WORDS), (int(n),), generator=gen))
        for n in torch.randint(args.tokens // 2, args.tokens + 1, (args.texts,), generator=gen)
    ]
    # A random ranking over all features of all submodules.
    names = [s.name for s in specs]
    ranked = [
        RankedFeature(
            names[int(torch.randint(len(names), (1,), generator=gen))],
            int(torch.randint(args.width, (1,), generator=gen)),
            0.0,
        )
        for _ in range(args.k)
    ]
    probe = lm.submodule("resid_out_layer4")

    sets = [feature_set(ranked[:k]) for k in range(1, args.k + 1)]
    t0 = time.perf_counter()
    ev = AblationEvaluator(lm, saes, texts, probe, batch_size=args.batch_size)
    setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    swept = list(ev.pooled_sweep(sets))
    sweep_s = time.perf_counter() - t0 + setup
    t0 = time.perf_counter()
    per_k = [ev.pooled(s) for s in sets]
    per_k_s = time.perf_counter() - t0 + setup

    t0 = time.perf_counter()
    naive = [naive_pooled(lm, saes, s, texts, 4, args.batch_size) for s in sets]
    naive_s = time.perf_counter() - t0

    def max_diff(xs, ys):
        return max(float((a - b).abs().max()) for a, b in zip(xs, ys, strict=True))

    result = {
        "setting": {
            "model": "random GPTNeoX, Pythia-70M shape; 16 random ReLU SAEs",
            "width": args.width,
            "texts": args.texts,
            "k_values": args.k,
            "batch_size": args.batch_size,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "naive_s": round(naive_s, 2),
        "per_k_evaluator_s": round(per_k_s, 2),
        "sweep_s": round(sweep_s, 2),
        "evaluator_setup_s": round(setup, 2),
        "speedup": round(naive_s / sweep_s, 2),
        "speedup_per_k_evaluator": round(naive_s / per_k_s, 2),
        "max_abs_diff": max_diff(swept, naive),
        "max_abs_diff_sweep_vs_per_k": max_diff(swept, per_k),
        "max_abs_value": max(float(b.abs().max()) for b in naive),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(result, indent=2))
    write_json(Path(args.out), result)


if __name__ == "__main__":
    main()
