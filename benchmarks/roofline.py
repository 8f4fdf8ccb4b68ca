"""Hot loops against the machine's dense-matmul limit, measured in the same run.

1. The limit: the best GFLOP/s of `a @ b` (2 m k n FLOPs) at the shapes the loops multiply (a
   token batch against the model's 512x512 and 512x2048 weights and the SAEs' 512xwidth
   encoder/decoder), in fp32 and bf16, with 1 and 2 intra-op threads.
2. Each hot loop on a randomly initialised Pythia-70M-shaped GPTNeoX with 16 random ReLU SAEs
   (embed and attn/mlp/resid of layers 0..4), run with `--threads` threads:
   - `activation_extraction`: `ssae.activations.read_activations` of the 16 submodules (the
     forward stops after layer 4);
   - `sae_train_step`: one `MultiSAETrainer.step` of the 16 SAEs on the same token rows;
   - `ig_joint` and `ig_per_submodule`: `circuits.node_effects` on a probe of resid_out_layer4;
   - `skyline_sweep`: `shift.ablation.AblationEvaluator.pooled` for k = 1..K ablated features.
   Achieved FLOP/s = FLOPs of one run / its wall seconds (best of `--repeats`), and
   `fraction_of_limit` = that over the fp32 limit at the same thread count.

FLOP counting: from the shapes of the matrix products (2 m k n per product; attention scores and
values 2 t^2 d per layer and sequence; element-wise work is not counted, as in the limit), with
the formulas of `torch.utils.flop_counter` applied to every operator of one run of the loop
(`OpFlops`); on the extraction loop `FlopCounterMode` itself gives the same count
(`gflop_flop_counter_mode`). The model forward and the SAE step are also counted by hand from
the configuration (`model_forward_flops`, `sae_forward_flops`; `by_hand_over_counter`). The
counter has no formula for the CPU kernel of scaled-dot-product attention, so attention (about
2% of the model's products at 64 tokens) is missing from the counted FLOPs: the by-hand count
of the forward is that much higher, and fractions of the model loops are that much low.

The machine is shared (load average stored with every figure): the limit and the loops run
back to back so that they see about the same load, and fractions are lower than on a quiet
machine. Rerun on a quiet machine for final figures.

    .venv/bin/python benchmarks/roofline.py [--threads 1] [--width 4096] [--seq 64] [--docs 8]
        [--profile]   (adds a torch.profiler table of the top operators of every loop under 0.5)

Results: benchmarks/results/roofline.json and roofline.png.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode, flop_registry  # noqa: E402
from transformers import GPTNeoXForCausalLM, PreTrainedTokenizerFast  # noqa: E402

from circuits.config import EffectConfig  # noqa: E402
from circuits.effects import node_effects  # noqa: E402
from circuits.metrics import probe_metric  # noqa: E402
from shift.ablation import AblationEvaluator  # noqa: E402
from shift.skyline import RankedFeature, feature_set  # noqa: E402
from ssae.activations import read_activations  # noqa: E402
from ssae.archs import AutoEncoder  # noqa: E402
from ssae.fit_config import FitConfig  # noqa: E402
from ssae.io import write_json  # noqa: E402
from ssae.models import LoadedModel, pythia70m_config  # noqa: E402
from ssae.trainer import MultiSAETrainer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
TOKENIZER = ROOT.parent / "shared" / "assets" / "pythia-tokenizer" / "tokenizer.json"
WORDS = "she he professor nurse hospital university research patients lectures care".split()


def load_average() -> float:
    """1-minute load average: other processes on the same cores."""
    return round(os.getloadavg()[0], 2)


def best_seconds(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def matmul_limit(shapes: list[tuple[int, int, int]], dtype, threads: int, repeats: int) -> dict:
    """Best GFLOP/s of a [m, k] @ [k, n] product over `shapes`."""
    torch.set_num_threads(threads)
    per_shape = {}
    for m, k, n in shapes:
        a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
        a @ b  # warm-up
        reps = max(1, int(2e8 // (m * k * n)))  # about 0.2 GFLOP per timing

        def run(a=a, b=b, reps=reps):
            for _ in range(reps):
                a @ b

        per_shape[f"{m}x{k}x{n}"] = round(
            2 * m * k * n * reps / best_seconds(run, repeats) / 1e9, 2
        )
    return {"gflops": max(per_shape.values()), "per_shape_gflops": per_shape}


def model_forward_flops(config, tokens: int, seq: int, layers: int) -> int:
    """Matmul FLOPs of `layers` GPTNeoX layers on `tokens` tokens in sequences of `seq`."""
    d, d_mlp = config.hidden_size, config.intermediate_size
    per_token = 2 * (3 * d * d + d * d) + 2 * (2 * d * d_mlp)  # qkv + out, mlp in + out
    attention = 2 * 2 * seq * d  # scores and values: 2 t^2 d per sequence = 2 t d per token, x2
    return layers * tokens * (per_token + attention)


def sae_forward_flops(n_saes: int, d: int, width: int, tokens: int) -> int:
    return n_saes * tokens * 2 * (2 * d * width)  # encode + decode


class OpFlops(TorchDispatchMode):
    """Matmul FLOPs of every operator that runs, from `torch.utils.flop_counter`'s formulas.

    `FlopCounterMode` itself also tracks modules with backward hooks, which
    `torch.autograd.grad` on leaf activations (the IG passes) does not support; this counts the
    same operators without module tracking."""

    def __init__(self):
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.total += int(formula(*args, **kwargs, out_val=out))
        return out


def count_flops(fn: Callable[[], object]) -> int:
    with OpFlops() as counter:
        fn()
    return counter.total


def flop_counter_mode_flops(fn: Callable[[], object]) -> int:
    """The same count by `torch.utils.flop_counter.FlopCounterMode` (checked on one loop)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def top_operators(fn: Callable[[], object], rows: int = 8) -> list[str]:
    """torch.profiler table (lines) of the operators with the most self CPU time in one run."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)
    return table.splitlines()


def build(width: int) -> tuple[LoadedModel, dict[str, AutoEncoder]]:
    torch.manual_seed(0)
    tok = PreTrainedTokenizerFast(
        tokenizer_file=str(TOKENIZER), eos_token="<|endoftext|>", pad_token="<|endoftext|>"
    )
    lm = LoadedModel(GPTNeoXForCausalLM(pythia70m_config()).eval(), tok, "pythia-70m-shaped")
    saes = {}
    for i, spec in enumerate(lm.submodules(layers=range(5))):
        torch.manual_seed(1000 + i)
        saes[spec.name] = AutoEncoder(spec.d, width)
    return lm, saes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads of the loops")
    ap.add_argument("--width", type=int, default=4096, help="SAE width (paper: 32768)")
    ap.add_argument("--seq", type=int, default=64, help="tokens per sequence")
    ap.add_argument("--docs", type=int, default=8, help="sequences per batch")
    ap.add_argument("--ig-steps", type=int, default=10)
    ap.add_argument("--ig-docs", type=int, default=2, help="sequences for the IG loops")
    ap.add_argument("--k", type=int, default=10, help="skyline k values (1..k)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--no-bf16", action="store_true", help="skip the bf16 limit")
    ap.add_argument(
        "--profile", action="store_true", help="torch.profiler top operators of loops under 0.5"
    )
    ap.add_argument("--out", type=Path, default=RESULTS / "roofline.json")
    args = ap.parse_args()

    lm, saes = build(args.width)
    config = lm.model.config
    d = config.hidden_size
    tokens = args.docs * args.seq
    shapes = [(tokens, d, d), (tokens, d, config.intermediate_size), (tokens, d, args.width)]

    limits: dict[str, dict] = {}
    dtypes = {"fp32": torch.float32} | ({} if args.no_bf16 else {"bf16": torch.bfloat16})
    for label, dtype in dtypes.items():
        for threads in sorted({1, 2, args.threads}):
            load = load_average()
            lim = matmul_limit(shapes, dtype, threads, args.repeats + 2)
            limits[f"{label}_{threads}_threads"] = {**lim, "load_average_1min": load}
            print(f"limit {label} {threads} threads: {lim['gflops']} GFLOP/s (load {load})")
    torch.set_num_threads(args.threads)
    limit = limits[f"fp32_{args.threads}_threads"]["gflops"]

    g = torch.Generator().manual_seed(0)
    batch = {
        "input_ids": torch.randint(0, config.vocab_size, (args.docs, args.seq), generator=g),
        "attention_mask": torch.ones(args.docs, args.seq, dtype=torch.long),
    }
    specs = lm.submodules(layers=range(5))
    rows = {n: a.reshape(-1, d) for n, a in read_activations(lm, specs, batch).items()}
    trainer = MultiSAETrainer(saes, FitConfig(lr=1e-4, l1=1e-3), total_steps=10**6)
    ig_batch = {
        "input_ids": batch["input_ids"][: args.ig_docs],
        "attention_mask": batch["attention_mask"][: args.ig_docs],
        "labels": torch.randint(0, 2, (args.ig_docs,), generator=g),
    }
    w = torch.randn(d, generator=g)
    metric = probe_metric(w / w.norm(), 0.0, reads="resid_out_layer4")
    texts = [" ".join(WORDS[int(i)] for i in torch.randint(len(WORDS), (args.seq,), generator=g))]
    texts = texts * args.docs
    names = list(saes)
    ranked = [
        RankedFeature(names[int(torch.randint(len(names), (1,), generator=g))], j, 0.0)
        for j in torch.randint(args.width, (args.k,), generator=g).tolist()
    ]
    probe = lm.submodule("resid_out_layer4")

    def skyline():
        ev = AblationEvaluator(lm, saes, texts, probe, batch_size=args.docs)
        for k in range(1, args.k + 1):
            ev.pooled(feature_set(ranked[:k]))

    def ig(mode: str):
        cfg = EffectConfig(steps=args.ig_steps, ig_mode=mode)
        return lambda: node_effects(lm, saes, [ig_batch], metric, cfg, progress=False)

    loops = {
        "activation_extraction": lambda: read_activations(lm, specs, batch),
        "sae_train_step": lambda: trainer.step(rows),
        "ig_joint": ig("joint"),
        "ig_per_submodule": ig("per_submodule"),
        "skyline_sweep": skyline,
    }
    by_hand = {
        "activation_extraction": model_forward_flops(config, tokens, args.seq, 5),
        # encode + decode forward (2 products per SAE), backward: decoder input and weight
        # gradients, encoder weight gradient only (the rows need no gradient): 5 products
        "sae_train_step": 5 * sae_forward_flops(len(saes), d, args.width, tokens) // 2,
    }
    results = {}
    for name, fn in loops.items():
        load = load_average()
        flops = count_flops(fn)
        seconds = best_seconds(fn, args.repeats)
        achieved = flops / seconds / 1e9
        results[name] = {
            "gflop": round(flops / 1e9, 3),
            "seconds": round(seconds, 3),
            "gflops_achieved": round(achieved, 2),
            "fraction_of_limit": round(achieved / limit, 3),
            "load_average_1min": [load, load_average()],
        }
        if name == "activation_extraction":
            results[name]["gflop_flop_counter_mode"] = round(flop_counter_mode_flops(fn) / 1e9, 3)
        if name in by_hand:
            results[name]["gflop_by_hand"] = round(by_hand[name] / 1e9, 3)
            results[name]["by_hand_over_counter"] = round(by_hand[name] / flops, 4)
        print(name, results[name], flush=True)

    # the limit again after the loops: on a shared machine the load moves, and a loop measured
    # at a quiet moment could otherwise beat a limit measured at a busy one
    load = load_average()
    again = matmul_limit(shapes, torch.float32, args.threads, args.repeats + 2)
    limits[f"fp32_{args.threads}_threads_after_loops"] = {**again, "load_average_1min": load}
    torch.set_num_threads(args.threads)
    if again["gflops"] > limit:
        limit = again["gflops"]
        for r in results.values():
            r["fraction_of_limit"] = round(r["gflops_achieved"] / limit, 3)

    if args.profile:
        for name, fn in loops.items():
            if results[name]["fraction_of_limit"] < 0.5:
                results[name]["profile_top_ops"] = top_operators(fn)
                print(name, "\n" + "\n".join(results[name]["profile_top_ops"]), flush=True)

    out = {
        "setting": {
            "model": "random GPTNeoX, Pythia-70M shape (d 512, d_mlp 2048, 6 layers)",
            "saes": f"{len(saes)} random ReLU AutoEncoders of width {args.width}",
            "tokens_per_batch": tokens,
            "seq": args.seq,
            "ig": f"{args.ig_docs} sequences, {args.ig_steps} steps, probe on resid_out_layer4",
            "skyline": f"k = 1..{args.k}, {args.docs} texts of {args.seq} words",
            "threads": args.threads,
            "device": "cpu",
            "cores": os.cpu_count(),
            "torch": torch.__version__,
            "flops": "matmul FLOPs from shapes (torch.utils.flop_counter); by hand for the "
            "model forward and the SAE step, compared in by_hand_over_counter",
            "timing": "best wall seconds of --repeats runs",
            "gpu": "none lent to this task: no GPU figures",
        },
        "limit_gflops": limit,
        "limit": f"fp32, {args.threads} threads, best of before and after the loops",
        "matmul_limits": limits,
        "loops": results,
    }
    write_json(args.out, out)
    print(json.dumps(out, indent=2))
    plot(out, args.out.with_suffix(".png"))
    print(f"wrote {args.out}")


def plot(out: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    loops = out["loops"]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    names = list(loops)
    ax.barh(names, [loops[n]["fraction_of_limit"] for n in names])
    ax.axvline(0.5, color="grey", linestyle="--", linewidth=1)
    threads = out["setting"]["threads"]
    ax.set_xlabel(
        f"achieved FLOP/s / fp32 matmul limit ({out['limit_gflops']} GFLOP/s, {threads} thread(s))"
    )
    ax.set_title(
        f"load average {out['matmul_limits'][next(iter(out['matmul_limits']))]['load_average_1min']} on "
        f"{out['setting']['cores']} cores",
        fontsize=9,
    )
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
