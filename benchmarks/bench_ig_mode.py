"""What the IG estimator changes in SHIFT: per-submodule IG (Marks et al.'s `_pe_ig`, the default)
against joint IG (all submodules interpolated together, ~10x fewer passes).

For each method, `shift run` is run twice on one preset, identical but for `--ig-mode`; the
cached probe and SAE stages are shared, so only the circuit and what follows it differ. Reported:

- the gender effects that rank the skyline's candidates: Spearman rank correlation of the two
  estimates over every feature, and the overlap |top_n(per) & top_n(joint)| / n for n = 10, 50,
  200 and for the k each run chose;
- the chosen k and the features ablated;
- the final table rows (profession, gender, worst-group accuracy) of both runs;
- the seconds of the circuit stage of each run (noisy on a shared machine).

    .venv/bin/python benchmarks/bench_ig_mode.py [--preset micro] [--variants gsae] [--seed 0]
        [--max-k 200] [--circuit-examples 128] [--ig-steps 10]

Results: benchmarks/results/ig_mode_<preset>.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from run_args import offline_one_thread, run_parser
from safetensors.torch import load_file

from shift.pipeline import RunConfig, run_pipeline
from ssae.io import markdown_table, shift_home, write_json

ROOT = Path(__file__).resolve().parents[1]
MODES = ("per_submodule", "joint")


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Pearson correlation of the ranks (ties broken by position; effects are continuous)."""
    ra = torch.argsort(torch.argsort(a)).double()
    rb = torch.argsort(torch.argsort(b)).double()
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra @ rb) / (ra.norm() * rb.norm()))


def flat_effects(key: str) -> tuple[list[str], torch.Tensor]:
    path = shift_home() / "stages" / "gender-effects" / key / "gender_effects.safetensors"
    effects = load_file(str(path))
    ids = [f"{name}/{i}" for name, e in effects.items() for i in range(len(e))]
    return ids, torch.cat([effects[name].double() for name in effects])


def top(ids: list[str], values: torch.Tensor, n: int) -> set[str]:
    return {ids[i] for i in torch.argsort(values, descending=True)[:n].tolist()}


def compare(args, variant: str) -> dict:
    runs = {}
    for mode in MODES:
        cfg = RunConfig.from_options(
            method=variant,
            preset=args.preset,
            seed=args.seed,
            ig_mode=mode,
            max_k=args.max_k,
            circuit_examples=args.circuit_examples,
            ig_steps=args.ig_steps,
            sae_eval=False,
            out=args.runs / f"{variant}-{mode}",
        )
        result = run_pipeline(cfg, quiet=True)
        saved = json.loads((cfg.out / "results.json").read_text())
        runs[mode] = {"result": result, "saved": saved}
    ids, per = flat_effects(runs["per_submodule"]["saved"]["stage_keys"]["gender-effects"])
    ids_j, joint = flat_effects(runs["joint"]["saved"]["stage_keys"]["gender-effects"])
    assert ids == ids_j
    overlap = {}
    for n in (10, 50, 200):
        overlap[f"top{n}"] = len(top(ids, per, n) & top(ids, joint, n)) / n
    chosen = {m: set(runs[m]["saved"]["features"]) for m in MODES}
    k = {m: runs[m]["saved"]["k"] for m in MODES}
    overlap["chosen_sets_jaccard"] = len(chosen["per_submodule"] & chosen["joint"]) / max(
        1, len(chosen["per_submodule"] | chosen["joint"])
    )
    return {
        "variant": variant,
        "spearman_gender_effects": spearman(per, joint),
        "n_features": len(ids),
        "overlap": overlap,
        "k": k,
        "rows": {m: runs[m]["result"]["rows"] for m in MODES},
        "circuit_seconds": {
            m: sum(runs[m]["result"]["timings"].get(s, 0.0) for s in ("gender-effects", "circuit"))
            for m in MODES
        },
    }


def main() -> None:
    parser = run_parser(__doc__.splitlines()[0], "bench-ig-mode", max_k=200, examples=128)
    parser.add_argument("--variants", default="gsae")
    args = parser.parse_args()
    offline_one_thread()
    report = {
        "preset": args.preset,
        "seed": args.seed,
        "max_k": args.max_k,
        "circuit_examples": args.circuit_examples,
        "ig_steps": args.ig_steps,
        "variants": [compare(args, v.strip()) for v in args.variants.split(",") if v.strip()],
    }
    for v in report["variants"]:
        print(
            f"{v['variant']}: Spearman(per, joint) = {v['spearman_gender_effects']:.3f} over "
            f"{v['n_features']} features; top-n overlap {v['overlap']}; k {v['k']}"
        )
        metrics = ("profession_acc", "gender_acc", "worst_group_acc")
        cells = [
            [mode, r["method"], *(f"{100 * r[m]:.1f}" for m in metrics)]
            for mode, rows in v["rows"].items()
            for r in rows
        ]
        print(markdown_table(["IG", "method", "profession", "gender", "worst group"], cells))
    write_json(args.out / f"ig_mode_{args.preset}.json", report)


if __name__ == "__main__":
    main()
