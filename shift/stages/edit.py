"""Stage `shift`: the chosen features ablated inside the model, scored on the test split.

Every submodule's output becomes decode(f with the chosen features set to their fill) + error, all
submodules in one forward pass (`shift.ablation`); the Original probe reads the edited model. With
`EditRecipe.retrain` the probe is also retrained on the edited model's ambiguous-train activations
(the `+ retrain` row).
"""

from __future__ import annotations

import json
from pathlib import Path

from shift.stages.context import RunContext
from shift.stages.dictionaries import Dictionaries
from shift.stages.probes import ProbesResult, probe_config
from shift.stages.selection import SelectionResult
from ssae.io import write_json


def run_edit(
    ctx: RunContext, saes: Dictionaries, probes: ProbesResult, selection: SelectionResult
) -> tuple[list[dict], str]:
    """The method's rows (edited, and retrained when the recipe says so) and the stage's key."""
    from probes.probe import load_probe, save_probe, train_probe
    from shift.ablation import parse_feature_ids
    from shift.baselines import evaluate_split

    edit = ctx.method.edit
    labels = ctx.method.row_labels(ctx.cfg.finetune.tilt, ctx.cfg.arch)
    inputs = {"skyline": selection.key, "probes": probes.key, "labels": labels}

    def fn(d: Path) -> dict:
        dicts = saes.load(ctx)
        features = parse_feature_ids(selection.features, dicts)
        fill = selection.fill
        test, train = ctx.bib["test"], ctx.bib["train"]
        test_acts = ctx.evaluator(dicts, test.texts, fill, sweep=False).pooled(features)

        def evaluate(probe, name):
            return evaluate_split(name, probe.predict(test_acts).long(), test).row()

        rows = [evaluate(load_probe(probes.original_probe), labels[0])]
        if edit.retrain:
            amb = ctx.evaluator(dicts, train.select(train.ambiguous), fill, sweep=False)
            amb = amb.pooled(features)
            cfg = probe_config(ctx)
            retrained = train_probe(amb, train.ambiguous_labels, cfg)
            save_probe(retrained, d / "retrained.safetensors", submodule=ctx.probe_submodule)
            rows.append(evaluate(retrained, labels[1]))
        for r in rows:
            r["k"] = selection.k
        write_json(d / "rows.json", rows)
        return {}

    stage = ctx.runner.run("shift", inputs, fn)
    return json.loads((stage.dir / "rows.json").read_text()), stage.key
