"""Compressed SSAEs: slice the GSAE then finetune (the SSAE paper's Comp. SSAE) against finetuning
the full GSAE and slicing afterwards, on the test biographies.

Three sets of the preset's first `compress_k` features per dictionary:

- Comp. GSAE: the general SAEs sliced;
- slice-then-finetune: Comp. GSAE finetuned on the retrieved subdomain tokens (`--method comp-ssae`);
- finetune-then-slice: the full GSAE finetuned on the same tokens (`--method ssae`), then sliced.

Both finetunes share the retrieval, the finetuning settings and the seed. Reported per set: mean
L0, FVU and spliced cross-entropy increase (nats/token) over the submodules, on the balanced test
biographies (`ssae.evaluate`), plus each run's SHIFT rows.

    .venv/bin/python benchmarks/bench_compression.py [--preset micro] [--seed 0] [--max-k 50]
        [--circuit-examples 64] [--ig-steps 10]

Results: benchmarks/results/compression_<preset>.json.
"""

from __future__ import annotations

import json
from pathlib import Path

from run_args import offline_one_thread, run_parser

from shift.pipeline import RunConfig, run_pipeline
from ssae.io import markdown_table, shift_home, write_json

ROOT = Path(__file__).resolve().parents[1]


def finetune_then_slice(saved: dict, preset_name: str, compress_k: int) -> dict:
    """Evaluate the full SSAE set sliced to `compress_k` on the test biographies."""
    from shift.data.bib import load_bib
    from shift.presets import get_preset
    from ssae.evaluate import evaluate_saes
    from ssae.models import load_model
    from ssae.sae_set import SAESet
    from ssae.tokens import TokenDataset

    preset = get_preset(preset_name).resolve()
    lm = load_model(preset.model)
    test = load_bib(preset.bib, preset.professions, splits=("test",))["test"]
    tokens = TokenDataset.from_texts(
        test.select(test.balanced), lm.tokenizer, ctx_len=preset.ctx_len, source="bib test"
    )
    folder = shift_home() / "stages" / "ssae" / saved["stage_keys"]["ssae"] / "run"
    saes = SAESet.load(folder, lm, names=preset.submodule_names).slice(compress_k)
    return evaluate_saes(lm, saes, tokens)


def mean_of(result: dict) -> dict:
    m = result["mean"]
    return {"l0": m["l0"], "fvu": m["fvu"], "ce_delta": m.get("ce_delta")}


def main() -> None:
    parser = run_parser(__doc__.splitlines()[0], "bench-compression", max_k=50, examples=64)
    args = parser.parse_args()
    offline_one_thread()
    saved, rows = {}, {}
    for variant in ("ssae", "comp-ssae"):
        cfg = RunConfig.from_options(
            method=variant,
            preset=args.preset,
            seed=args.seed,
            max_k=args.max_k,
            circuit_examples=args.circuit_examples,
            ig_steps=args.ig_steps,
            out=args.runs / variant,
        )
        rows[variant] = run_pipeline(cfg, quiet=True)["rows"]
        saved[variant] = json.loads((cfg.out / "results.json").read_text())
    compress_k = saved["comp-ssae"]["config"]["preset_resolved"]["compress_k"]
    comp = saved["comp-ssae"]["sae_eval"]
    sets = {
        "comp_gsae": mean_of(comp["gsae"]),
        "slice_then_finetune": mean_of(comp["saes"]),
        "finetune_then_slice": mean_of(finetune_then_slice(saved["ssae"], args.preset, compress_k)),
    }
    report = {
        "preset": args.preset,
        "seed": args.seed,
        "compress_k": compress_k,
        "eval": "balanced test biographies, mean over submodules",
        "sets": sets,
        "shift_rows": rows,
    }
    cells = [
        [n, f"{m['l0']:.2f}", f"{m['fvu']:.3f}", f"{m['ce_delta']:.4f}"] for n, m in sets.items()
    ]
    print(markdown_table(["set", "mean L0", "mean FVU", "spliced CE + (nats/token)"], cells))
    write_json(args.out / f"compression_{args.preset}.json", report)


if __name__ == "__main__":
    main()
