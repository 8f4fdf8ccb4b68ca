"""Stage `saebench-scr`: SAEBench's own SCR at N = 10 and 20 for the run's dictionaries.

SAEBench (Karvonen et al. 2025) scores an SAE's spurious-correlation removal with one layer only:
the features of the SAE at the probe's layer are ranked by |mean activation difference between
the genders x the gender probe's weight projected on the feature's decoder direction|
(`shift.saebench`), the top N are zero-ablated with the SAE's error added back, and the Original
probe's profession accuracy on the balanced test set, A_N, is compared with the Original's and
the Oracle's:

    SCR@N = (A_N - A_original) / (A_oracle - A_original).

Unlike the SHIFT rows (circuit-ranked features of every submodule, k chosen on dev), nothing here
is tuned, so the numbers read directly against SAEBench's published ordering of architectures.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from shift.methods import with_arch
from shift.stages.context import RunContext
from shift.stages.dictionaries import Dictionaries
from shift.stages.probes import ProbesResult
from ssae.io import write_json

SCR_N = (10, 20)
"""SAEBench's N (features ablated); a 2026 critique finds SCR unreliable at large N."""


def scr_label(method_label: str, n: int, arch: str) -> str:
    """E.g. `GSAE SHIFT SAEBench SCR@10 [topk]`: the dictionaries of that row, SAEBench's way."""
    return with_arch(f"{method_label} SAEBench SCR@{n}", arch)


def run_saebench_scr(
    ctx: RunContext, saes: Dictionaries, probes: ProbesResult
) -> tuple[list[dict], str]:
    """One row per N: profession and gender accuracy of the Original probe on the balanced test
    set with the top-N probe-layer features ablated, its predictions, and SCR@N."""
    from probes.metrics import pack_bits
    from probes.probe import load_probe
    from shift.skyline import feature_set, rank_features
    from shift.stages.selection import saebench_scores

    inputs = {"saes": saes.key, "probes": probes.key, "n": SCR_N, "reads": ctx.probe_submodule}
    label = ctx.method.row_labels(ctx.cfg.finetune.tilt)[0]

    def fn(d: Path) -> dict:
        dicts = saes.load(ctx).subset([ctx.probe_submodule])
        ranked = rank_features(saebench_scores(ctx, dicts), top=max(SCR_N))
        probe = load_probe(probes.original_probe)
        test = ctx.bib["test"]
        prof, gender = test.profession[test.balanced], test.gender[test.balanced]
        ev = ctx.evaluator(dicts, test.select(test.balanced))
        rows = []
        for n, x in zip(SCR_N, ev.pooled_sweep([feature_set(ranked[:n]) for n in SCR_N])):
            pred = probe.predict(x).long().cpu()
            pool = torch.zeros(len(test), dtype=torch.long)
            pool[test.balanced] = pred
            rows.append(
                {
                    "method": scr_label(label, n, ctx.cfg.arch),
                    "n": n,
                    "profession_acc": float((pred == prof).float().mean()),
                    "gender_acc": float((pred == gender).float().mean()),
                    "predictions": pack_bits(pool),
                    "balanced_only": True,
                }
            )
        write_json(d / "rows.json", rows)
        return {}

    stage = ctx.runner.run("saebench-scr", inputs, fn)
    rows = json.loads((stage.dir / "rows.json").read_text())
    refs = {r["method"]: r["profession_acc"] for r in probes.rows}
    for r in rows:
        original, oracle = refs.get("Original"), refs.get("Oracle")
        if original is not None and oracle is not None and oracle != original:
            r["scr"] = (r["profession_acc"] - original) / (oracle - original)
    return rows, stage.key
