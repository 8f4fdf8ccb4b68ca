"""SHIFT end to end on Bias in Bios (Marks et al. 2024; SSAE variants from Muhamed et al. 2024).

A run adds one method (`shift.methods`, `--method`) to the reference rows Original, CBP and Oracle.
Its stages (`shift.stages`), each cached under a key of its inputs (`shift.cache`):

1. `probes`   - Original (probe on the ambiguous set), CBP and Oracle (balanced set), scored on
                the balanced test set; the Original probe is the classifier SHIFT edits.
2. `baseline` - (methods that train a classifier, e.g. gendered-word deletion) its row.
3. `gsae`, `retrieve`, `ssae` - (methods that edit the model) the dictionaries: general SAEs,
                and for SSAE methods the GSAEs finetuned on retrieved subdomain data.
4. `gender-effects`, `feature-contexts`, `circuit` - (circuit-ranked methods) every feature's
                effect on the gender metric; every feature's top contexts, frequency and logit
                lens; the classifier's circuit for the report (the last two not in `shift bench`).
5. `skyline`  - the features to ablate: top-k by the method's ranking, k chosen on the dev set.
6. `shift`    - the features ablated on the test set; the probe retrained on ablated activations.
7. `sae-eval` - L0, FVU and spliced cross-entropy of the dictionaries on the test biographies.
8. `saebench-scr` - (`--saebench-scr`, on in `shift bench`) SAEBench's SCR at N = 10 and 20.

The report (`results.json`, `results.md`, the circuit SVG/PNG and its explorer `circuit.html`, the
sweep plot) is written to `--out`.
"""

from __future__ import annotations

import time

from shift.config import STAGES, RunConfig
from shift.report import RunReport, write_run_report
from shift.stages import (
    RunContext,
    run_circuit,
    run_dictionaries,
    run_edit,
    run_feature_contexts,
    run_gender_effects,
    run_probes,
    run_sae_eval,
    run_saebench_scr,
    run_selection,
)

__all__ = ["STAGES", "RunConfig", "run_pipeline"]


def run_pipeline(cfg: RunConfig, quiet: bool = False) -> dict:
    """Run the method's stages and write the report; returns the table, k and timings."""
    t_start = time.perf_counter()
    ctx = RunContext.open(cfg, quiet)
    method = ctx.method
    probes = run_probes(ctx)
    report = RunReport(ctx, probes.rows, {"probes": probes.key})
    if method.probe is not None:
        baseline = run_probes(ctx, (method,))
        report.add(baseline.rows, baseline=baseline.key)
    else:
        dicts = run_dictionaries(ctx)
        by_circuit = method.edit.ranking == "circuit"
        gender = run_gender_effects(ctx, dicts.edited, probes) if by_circuit else None
        selection = run_selection(ctx, dicts.edited, probes, gender)
        contexts = circuit = None
        if by_circuit and cfg.circuit.graph:
            contexts = run_feature_contexts(ctx, dicts.edited)
            circuit = run_circuit(ctx, dicts.edited, probes, contexts)
        rows, edit_key = run_edit(ctx, dicts.edited, probes, selection)
        report.add(rows, **dicts.stage_keys, skyline=selection.key, shift=edit_key)
        report.circuit, report.selection = circuit, selection
        if gender is not None:
            report.keys["gender-effects"] = gender.key
        if circuit is not None:
            report.keys["feature-contexts"] = contexts.key
            report.keys["circuit"] = circuit.key
        if cfg.sae_eval and dicts.edited.dir is not None:
            report.sae_eval, report.keys["sae-eval"] = run_sae_eval(ctx, dicts)
        if cfg.saebench_scr and dicts.edited.dir is not None:
            report.scr_rows, report.keys["saebench-scr"] = run_saebench_scr(
                ctx, dicts.edited, probes
            )
    return write_run_report(report, time.perf_counter() - t_start)
