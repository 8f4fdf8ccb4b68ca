"""Cost of circuit node effects against the bare model's forward/backward passes.

Setting: a randomly initialised Pythia-70M-shaped GPTNeoX (vocab 50304, hidden 512, 6 layers,
8 heads, intermediate 2048, rotary_pct 0.25) with its 16 SAEs of Marks et al. (embed and
attn/mlp/resid of layers 0..4) as random ReLU AutoEncoders of width 4096 (the paper's are 32768;
4096 keeps a CPU run tractable), a Bias-in-Bios-style probe metric on resid_out_layer4 (so layer 5
and the unembedding are never run), random token ids, 64 tokens per example (short, for 2 CPU
cores), zero-ablation baseline, IG with 10 steps.

Measured in the same run, over the same batches:
- `bare`: (steps + 1) forward+backward passes of the model alone up to the probe's layer
  (backward to the activations, parameters frozen: what any gradient attribution needs);
- `ig_joint`: `node_effects` with ig_mode="joint" (all submodules interpolated together);
- `ig_per_submodule`: Marks et al.'s per-submodule IG (N passes per submodule), measured on
  fewer examples and extrapolated linearly to all of them (cost is linear in examples);
- `attrib`: attribution patching, against 1 forward+backward pass of the bare model.
Peak resident memory of each phase is sampled from /proc/self/statm.

Usage: python benchmarks/bench_circuits.py [--examples 100] [--seq 64] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM  # noqa: E402

from circuits.effects import EffectConfig, node_effects  # noqa: E402
from circuits.metrics import probe_metric  # noqa: E402
from circuits.runner import frozen, run_metric  # noqa: E402
from ssae.dictionary import AutoEncoder  # noqa: E402
from ssae.io import write_json  # noqa: E402
from ssae.models import LoadedModel  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "bench_circuits.json"


class PeakRSS:
    """Peak resident set size (MiB) while the block runs, sampled every 10 ms."""

    def __init__(self):
        self.peak = 0.0
        self._stop = threading.Event()

    @staticmethod
    def rss_mib() -> float:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss_mib())
            time.sleep(0.01)

    def __enter__(self):
        self.peak = self.rss_mib()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss_mib())
        return False


def build(seed: int = 0) -> tuple[LoadedModel, dict[str, AutoEncoder]]:
    torch.manual_seed(seed)
    config = GPTNeoXConfig(
        vocab_size=50304, hidden_size=512, num_hidden_layers=6, num_attention_heads=8,
        intermediate_size=2048, rotary_pct=0.25, max_position_embeddings=2048,
        use_parallel_residual=True, tie_word_embeddings=False,
    )
    lm = LoadedModel(GPTNeoXForCausalLM(config).eval(), None, "pythia-70m-shaped-random")
    saes = {}
    for i, spec in enumerate(lm.submodules(layers=range(5))):
        torch.manual_seed(1000 + i)
        saes[spec.name] = AutoEncoder(spec.d, 4096)
    return lm, saes


def make_batches(n: int, seq: int, batch: int, seed: int = 0) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for start in range(0, n, batch):
        b = min(batch, n - start)
        out.append({
            "input_ids": torch.randint(0, 50304, (b, seq), generator=g),
            "attention_mask": torch.ones(b, seq, dtype=torch.long),
            "labels": torch.randint(0, 2, (b,), generator=g),
        })
    return out


def bare_passes(lm: LoadedModel, batches: list[dict], metric, passes: int) -> None:
    """`passes` forward+backward passes per batch of the model alone (gradient to activations)."""

    def leaf(x: torch.Tensor) -> torch.Tensor:
        return x.detach().requires_grad_(True)

    with frozen(lm.model):
        for batch in batches:
            for _ in range(passes):
                m = run_metric(lm, batch, metric, {"embed": leaf})
                m.sum().backward()


def timed(fn) -> tuple[float, float]:
    with PeakRSS() as mem:
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t, mem.peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=100)
    ap.add_argument("--per-submodule-examples", type=int, default=10)
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    lm, saes = build()
    w = torch.randn(512, generator=torch.Generator().manual_seed(1))
    metric = probe_metric(w / w.norm(), 0.0, reads="resid_out_layer4")
    batches = make_batches(args.examples, args.seq, args.batch)
    few = make_batches(args.per_submodule_examples, args.seq, args.batch)
    joint = EffectConfig(method="ig", steps=args.steps, ig_mode="joint")
    per_sub = EffectConfig(method="ig", steps=args.steps, ig_mode="per_submodule")
    attrib = EffectConfig(method="attrib")

    # warm-up (first-call allocations, kernel selection)
    warm = make_batches(2, args.seq, 2, seed=9)
    bare_passes(lm, warm, metric, 1)
    node_effects(lm, saes, warm, metric, joint, progress=False)

    t_bare, m_bare = timed(lambda: bare_passes(lm, batches, metric, args.steps + 1))
    t_bare1, m_bare1 = timed(lambda: bare_passes(lm, batches, metric, 1))
    t_joint, m_joint = timed(lambda: node_effects(lm, saes, batches, metric, joint, progress=False))
    t_attrib, m_attrib = timed(lambda: node_effects(lm, saes, batches, metric, attrib, progress=False))
    t_per_few, m_per = timed(lambda: node_effects(lm, saes, few, metric, per_sub, progress=False))
    t_per = t_per_few * args.examples / args.per_submodule_examples

    n_sub = len(saes)
    results = {
        "setting": {
            "model": "random GPTNeoX, Pythia-70M shape (vocab 50304, d 512, 6 layers, 8 heads, "
            "d_mlp 2048, rotary_pct 0.25)",
            "saes": f"{n_sub} random ReLU AutoEncoders of width 4096 (embed, attn/mlp/resid 0..4)",
            "metric": "probe on resid_out_layer4 (forward stops after layer 4)",
            "examples": args.examples,
            "tokens_per_example": args.seq,
            "batch_size": args.batch,
            "ig_steps": args.steps,
            "baseline": "zero",
            "device": "cpu",
            "threads": args.threads,
            "cpu": platform.processor() or platform.machine(),
            "torch": torch.__version__,
            "per_submodule_measured_on_examples": args.per_submodule_examples,
        },
        "seconds": {
            "bare_steps_plus_1_fwd_bwd": round(t_bare, 2),
            "bare_1_fwd_bwd": round(t_bare1, 2),
            "ig_joint": round(t_joint, 2),
            "attrib": round(t_attrib, 2),
            "ig_per_submodule_extrapolated": round(t_per, 2),
            "ig_per_submodule_measured": round(t_per_few, 2),
        },
        "ratios": {
            "ig_joint_vs_bare": round(t_joint / t_bare, 3),
            "attrib_vs_bare_1": round(t_attrib / t_bare1, 3),
            "ig_per_submodule_vs_bare": round(t_per / t_bare, 3),
        },
        "goal": {"ig_vs_bare_max": 1.5, "met_by_ig_joint": t_joint / t_bare <= 1.5},
        "peak_rss_mib": {
            "bare": round(m_bare, 1),
            "ig_joint": round(m_joint, 1),
            "attrib": round(m_attrib, 1),
            "ig_per_submodule": round(m_per, 1),
            "bare_1": round(m_bare1, 1),
        },
    }
    print(json.dumps(results, indent=2))
    write_json(args.out, results)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
