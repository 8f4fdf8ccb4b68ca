"""How many biographies a preset's text cap cuts: token lengths of the SHIFT pool per split.

Probes, circuits and ablations read at most `Preset.max_text_tokens` tokens of a biography (None:
all of them, as the reference code does). This script tokenizes every biography of the profession
pair's pool (the four profession x gender groups) of each split with the preset's tokenizer and
reports the length distribution and the share the cap cuts. The tiny worlds are built on first use
(offline); the paper preset needs the hub or a filled HF cache.

    .venv/bin/python benchmarks/bench_truncation.py [--presets micro,tiny]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from shift.data.bib import load_bib
from shift.presets import get_preset
from ssae.io import write_json
from ssae.models import load_tokenizer

ROOT = Path(__file__).resolve().parents[1]


def lengths_of(texts: list[str], tokenizer) -> list[int]:
    return [len(ids) for ids in tokenizer(texts)["input_ids"]]


def measure(preset_name: str) -> dict:
    preset = get_preset(preset_name).resolve("model", "bib")
    tokenizer = load_tokenizer(preset.model)
    bib = load_bib(preset.bib, preset.professions)
    cap = preset.max_text_tokens
    out = {"preset": preset_name, "max_text_tokens": cap, "splits": {}}
    for split in ("train", "dev", "test"):
        lengths = sorted(lengths_of(bib[split].texts, tokenizer))
        cut = sum(n > cap for n in lengths) if cap is not None else 0
        out["splits"][split] = {
            "n": len(lengths),
            "median": statistics.median(lengths),
            "p99": lengths[min(len(lengths) - 1, int(0.99 * len(lengths)))],
            "max": lengths[-1],
            "cut": cut,
            "share_cut": cut / len(lengths),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="micro,tiny")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    results = [measure(p.strip()) for p in args.presets.split(",") if p.strip()]
    for r in results:
        for split, s in r["splits"].items():
            print(
                f"{r['preset']:6s} {split:5s} n={s['n']:6d} median={s['median']:6.1f} "
                f"p99={s['p99']:4d} max={s['max']:4d} cap={r['max_text_tokens']} "
                f"cut={s['cut']} ({100 * s['share_cut']:.2f}%)"
            )
    path = args.out / "truncation.json"
    write_json(path, results)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
