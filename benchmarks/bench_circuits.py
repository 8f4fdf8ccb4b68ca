"""Cost of circuit node effects against the bare model's forward/backward passes.

Setting: a randomly initialised Pythia-70M-shaped GPTNeoX (vocab 50304, hidden 512, 6 layers,
8 heads, intermediate 2048, rotary_pct 0.25) with its 16 SAEs of Marks et al. (embed and
attn/mlp/resid of layers 0..4) as random ReLU AutoEncoders of width 4096 (the paper's are 32768;
4096 keeps a CPU run tractable), a Bias-in-Bios-style probe metric on resid_out_layer4 (so layer 5
and the unembedding are never run), random token ids, 64 tokens per example (short, for 2 CPU
cores), zero-ablation baseline, IG with 10 steps.

Measured in the same run, over the same batches:
- `bare`: (steps + 1) forward+backward passes of the model alone up to the probe's layer
  (backward to the activations, parameters frozen: what any gradient attribution needs), with
  the last `steps` passes stacked along the batch axis exactly as `node_effects` stacks its
  integration steps (the reference: same batching, so the ratio is the circuit overhead);
  `bare_separate` runs the (steps + 1) passes one by one (for information: stacking alone
  changes the time on a CPU);
- `ig_joint`: `node_effects` with ig_mode="joint" (all submodules interpolated together);
- `attrib`: attribution patching, against 1 forward+backward pass of the bare model;
- `per_submodule_check`: Marks et al.'s per-submodule IG against joint IG and the same bare
  passes, on a couple of examples only, twice: `ig_per_submodule` as `node_effects` runs it (one
  alpha_0 pass for all submodules, then the passes of submodule s run only from s on, reusing the
  recorded clean outputs of the modules before s: clean-prefix reuse) and
  `ig_per_submodule_full_passes`, the computation before that reuse (N passes per submodule, each
  from the input). Their effects must agree: the largest absolute difference is printed and
  stored. `ratios.ig_per_submodule_vs_joint` (target <= 3) and `..._before` are CPU-time ratios.
The methods are interleaved batch by batch; by default 20 examples are run and the times scaled
to 100 (cost is linear in the number of examples). Peak resident memory of each method is
sampled from /proc/self/statm. The 1-minute load average of the machine is stored with each part.

Usage: python benchmarks/bench_circuits.py [--examples 100] [--measure 20] [--seq 64]
       python benchmarks/bench_circuits.py --only-per-submodule   (a couple of minutes: updates
           only `per_submodule_check` and the per-submodule ratios of the existing JSON)
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from transformers import GPTNeoXForCausalLM  # noqa: E402

import circuits.effects as effects_module  # noqa: E402
from circuits.config import EffectConfig  # noqa: E402
from circuits.effects import node_effects  # noqa: E402
from circuits.metrics import probe_metric  # noqa: E402
from circuits.runner import frozen, run_metric, tile_batch  # noqa: E402
from ssae.archs import AutoEncoder  # noqa: E402
from ssae.io import write_json  # noqa: E402
from ssae.models import LoadedModel, pythia70m_config  # noqa: E402

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
    config = pythia70m_config()
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
        out.append(
            {
                "input_ids": torch.randint(0, 50304, (b, seq), generator=g),
                "attention_mask": torch.ones(b, seq, dtype=torch.long),
                "labels": torch.randint(0, 2, (b,), generator=g),
            }
        )
    return out


def bare_passes(
    lm: LoadedModel, batches: list[dict], metric, passes: int, max_tokens: int | None = None
) -> None:
    """`passes` forward+backward passes per batch of the model alone (gradient to activations).

    With `max_tokens`, all but the first pass are stacked along the batch axis up to that many
    tokens per pass, exactly as `node_effects` stacks its integration steps; otherwise every
    pass runs separately.
    """

    def leaf(x: torch.Tensor) -> torch.Tensor:
        return x.detach().requires_grad_(True)

    def one(batch: dict) -> None:
        m = run_metric(lm, batch, metric, {"embed": leaf})
        m.sum().backward()

    with frozen(lm.model):
        for batch in batches:
            if max_tokens is None:
                for _ in range(passes):
                    one(batch)
                continue
            one(batch)
            rest = passes - 1
            per = max(1, min(rest, max_tokens // batch["input_ids"].numel()))
            while rest > 0:
                k = min(per, rest)
                one(tile_batch(batch, k))
                rest -= k


def full_pass_output_gradients(lm, saes, specs, batch, clean, patch, metric, cfg):
    """`circuits.effects.output_gradients` as it was before clean-prefix reuse, per-submodule
    mode only: for each submodule, its N integration points in passes that all start from the
    input. The reference the reuse is timed and checked against (uses the module's helpers)."""
    if cfg.ig_mode != "per_submodule" or any(cfg.method_of(s.name) != "ig" for s in specs):
        raise ValueError("the reference covers per-submodule IG only")
    per_pass = effects_module._steps_per_pass(cfg, batch)
    out = {}
    for s in specs:
        xc = clean[s.name].output(saes[s.name])
        dx = (patch[s.name].output(saes[s.name]) - xc).expand_as(xc)
        total = 0
        for chunk in effects_module._chunks(effects_module._alphas(cfg.steps), per_pass):
            grads = effects_module._grad_pass(
                lm, batch, metric, chunk, {s.name: (xc, dx)}, [], straight_through=False
            )
            total = total + grads[s.name].sum(0)
        out[s.name] = total / cfg.steps
    return out


def node_effects_full_passes(*args, **kwargs):
    """`node_effects` with `full_pass_output_gradients` in place of the library's gradients."""
    fast = effects_module.output_gradients
    effects_module.output_gradients = full_pass_output_gradients
    try:
        return node_effects(*args, **kwargs)
    finally:
        effects_module.output_gradients = fast


def max_abs_difference(a, b) -> float:
    diffs = [(a.features[n] - b.features[n]).abs().max() for n in a.features]
    diffs += [(a.errors[n] - b.errors[n]).abs().max() for n in a.errors]
    return float(max(diffs))


def load_average() -> float:
    """1-minute load average: other processes on the same cores (timings are noisy above 2)."""
    return round(os.getloadavg()[0], 2)


class Clock:
    """Wall and process-CPU seconds and peak RSS accumulated over several timed blocks.

    CPU seconds are the primary figure: this machine is shared, and a process that waits for a
    core accumulates wall time but not CPU time.
    """

    def __init__(self):
        self.wall = 0.0
        self.cpu = 0.0
        self.peak = 0.0

    def run(self, fn) -> None:
        with PeakRSS() as mem:
            w, c = time.perf_counter(), time.process_time()
            fn()
            self.wall += time.perf_counter() - w
            self.cpu += time.process_time() - c
        self.peak = max(self.peak, mem.peak)

    def summary(self, scale: float = 1.0) -> dict:
        return {
            "cpu_s": round(self.cpu * scale, 2),
            "wall_s": round(self.wall * scale, 2),
            "peak_rss_mib": round(self.peak, 1),
        }


def ratio(a: Clock, b: Clock) -> float:
    return round(a.cpu / b.cpu, 3)


def per_submodule_check(args, lm, saes, metric) -> dict:
    """Per-submodule IG, with and without clean-prefix reuse, against joint IG and bare passes."""
    few = make_batches(args.per_submodule_examples, args.seq, args.per_submodule_examples, seed=5)
    joint = EffectConfig(method="ig", steps=args.steps, ig_mode="joint")
    per_sub = EffectConfig(method="ig", steps=args.steps, ig_mode="per_submodule")
    tokens = joint.max_tokens_per_pass
    load_before = load_average()
    names = ("bare", "ig_per_submodule", "ig_per_submodule_full_passes", "ig_joint")
    small = {k: Clock() for k in names}
    results = {}
    for batch in few:
        small["bare"].run(lambda b=batch: bare_passes(lm, [b], metric, args.steps + 1, tokens))
        for key, fn in (
            ("ig_per_submodule", node_effects),
            ("ig_per_submodule_full_passes", node_effects_full_passes),
        ):
            small[key].run(
                lambda b=batch, k=key, f=fn: results.__setitem__(
                    k, f(lm, saes, [b], metric, per_sub, progress=False)[0]
                )
            )
        small["ig_joint"].run(
            lambda b=batch: node_effects(lm, saes, [b], metric, joint, progress=False)
        )
        print({k: round(c.cpu, 1) for k, c in small.items()}, flush=True)
    # same examples for both (the last batch when there are several: one batch by default)
    diff = max_abs_difference(results["ig_per_submodule"], results["ig_per_submodule_full_passes"])
    scale = max(float(e.abs().max()) for e in results["ig_per_submodule"].features.values())
    print(
        f"per-submodule IG, reuse vs full passes: max abs difference {diff:.3g} (max |effect| "
        f"{scale:.3g})"
    )
    return {
        "examples": args.per_submodule_examples,
        "load_average_1min": [load_before, load_average()],
        **{k: c.summary() for k, c in small.items()},
        "ig_per_submodule_vs_bare": ratio(small["ig_per_submodule"], small["bare"]),
        "ig_per_submodule_full_passes_vs_bare": ratio(
            small["ig_per_submodule_full_passes"], small["bare"]
        ),
        "ig_joint_vs_bare": ratio(small["ig_joint"], small["bare"]),
        "reuse_vs_full_passes_max_abs_difference": diff,
        "max_abs_effect": scale,
        "speedup_of_reuse": ratio(small["ig_per_submodule_full_passes"], small["ig_per_submodule"]),
        "ratios": {
            "ig_per_submodule_vs_joint": ratio(small["ig_per_submodule"], small["ig_joint"]),
            "ig_per_submodule_vs_joint_before": ratio(
                small["ig_per_submodule_full_passes"], small["ig_joint"]
            ),
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=100, help="examples the figures are for")
    ap.add_argument(
        "--measure",
        type=int,
        default=20,
        help="examples actually run (the rest extrapolated linearly)",
    )
    ap.add_argument("--per-submodule-examples", type=int, default=2)
    ap.add_argument(
        "--only-per-submodule",
        action="store_true",
        help="run only the per-submodule check and update it in the existing --out JSON",
    )
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
    joint = EffectConfig(method="ig", steps=args.steps, ig_mode="joint")
    attrib = EffectConfig(method="attrib")

    # warm-up (first-call allocations, kernel selection)
    warm = make_batches(2, args.seq, 2, seed=9)
    bare_passes(lm, warm, metric, 1)
    node_effects(lm, saes, warm, metric, joint, progress=False)

    if args.only_per_submodule:
        results = json.loads(args.out.read_text()) if args.out.exists() else {}
        check = per_submodule_check(args, lm, saes, metric)
        check["setting"] = {
            "threads": args.threads,
            "tokens_per_example": args.seq,
            "ig_steps": args.steps,
            "note": "run on its own (--only-per-submodule); the other figures of this file "
            "come from an earlier full run",
        }
        results["per_submodule_check"] = check
        results.setdefault("ratios", {}).update(check["ratios"])
        results.setdefault("goal", {}).update(
            ig_per_submodule_vs_joint_max=3.0,
            met_by_ig_per_submodule=check["ratios"]["ig_per_submodule_vs_joint"] <= 3.0,
        )
        print(json.dumps(check, indent=2))
        write_json(args.out, results)
        print(f"wrote {args.out}")
        return

    measure = min(args.measure, args.examples)
    batches = make_batches(measure, args.seq, args.batch)
    load_before = load_average()
    # interleaved per batch, so that every method sees the same load of the shared machine
    tokens = joint.max_tokens_per_pass
    clocks = {k: Clock() for k in ("bare", "bare_separate", "ig_joint", "bare_1", "attrib")}
    for batch in batches:
        clocks["bare"].run(lambda b=batch: bare_passes(lm, [b], metric, args.steps + 1, tokens))
        clocks["bare_separate"].run(lambda b=batch: bare_passes(lm, [b], metric, args.steps + 1))
        clocks["ig_joint"].run(
            lambda b=batch: node_effects(lm, saes, [b], metric, joint, progress=False)
        )
        clocks["bare_1"].run(lambda b=batch: bare_passes(lm, [b], metric, 1))
        clocks["attrib"].run(
            lambda b=batch: node_effects(lm, saes, [b], metric, attrib, progress=False)
        )
        print({k: round(c.cpu, 1) for k, c in clocks.items()}, flush=True)
    load_main = [load_before, load_average()]
    check = per_submodule_check(args, lm, saes, metric)

    scale = args.examples / measure
    n_sub = len(saes)
    results = {
        "setting": {
            "model": "random GPTNeoX, Pythia-70M shape (vocab 50304, d 512, 6 layers, 8 heads, "
            "d_mlp 2048, rotary_pct 0.25)",
            "saes": f"{n_sub} random ReLU AutoEncoders of width 4096 (embed, attn/mlp/resid 0..4)",
            "metric": "probe on resid_out_layer4 (forward stops after layer 4)",
            "examples": args.examples,
            "examples_measured": measure,
            "extrapolation": f"times x{scale:g} (linear in examples)" if scale != 1 else "none",
            "tokens_per_example": args.seq,
            "batch_size": args.batch,
            "ig_steps": args.steps,
            "baseline": "zero",
            "device": "cpu",
            "threads": args.threads,
            "torch": torch.__version__,
            "timing": "process CPU seconds (primary; shared machine) and wall seconds, "
            "methods interleaved batch by batch",
            "load_average_1min": load_main,
        },
        "bare_steps_plus_1_fwd_bwd": clocks["bare"].summary(scale),
        "bare_steps_plus_1_fwd_bwd_separate": clocks["bare_separate"].summary(scale),
        "ig_joint": clocks["ig_joint"].summary(scale),
        "bare_1_fwd_bwd": clocks["bare_1"].summary(scale),
        "attrib": clocks["attrib"].summary(scale),
        "ratios": {
            "ig_joint_vs_bare_steps_plus_1": ratio(clocks["ig_joint"], clocks["bare"]),
            "ig_joint_vs_bare_separate_passes": ratio(clocks["ig_joint"], clocks["bare_separate"]),
            "attrib_vs_bare_1": ratio(clocks["attrib"], clocks["bare_1"]),
            **check["ratios"],
        },
        "per_submodule_check": check,
        "goal": {
            "ig_vs_bare_max": 1.5,
            "met_by_ig_joint": clocks["ig_joint"].cpu / clocks["bare"].cpu <= 1.5,
            "ig_per_submodule_vs_joint_max": 3.0,
            "met_by_ig_per_submodule": check["ratios"]["ig_per_submodule_vs_joint"] <= 3.0,
        },
    }
    print(json.dumps(results, indent=2))
    write_json(args.out, results)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
