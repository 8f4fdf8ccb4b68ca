"""Stage `sae-eval`: L0, FVU and spliced cross-entropy of the edited dictionaries on the balanced
test biographies (`ssae.evaluate`); SSAEs are evaluated next to their general parent."""

from __future__ import annotations

import json
from pathlib import Path

from shift.stages.context import RunContext
from shift.stages.dictionaries import EditedDictionaries
from ssae.io import write_json


def run_sae_eval(ctx: RunContext, dicts: EditedDictionaries) -> tuple[dict, str]:
    """The evaluation (`ssae.evaluate.evaluate_sae_sets`' result) and the stage's key."""
    from ssae.evaluate import evaluate_sae_sets

    compare = dicts.general if dicts.general != dicts.edited else None
    inputs = {
        "saes": dicts.edited.key,
        "bib": ctx.bib_key,
        "gsae": compare.key if compare else None,
    }

    def fn(d: Path) -> dict:
        tokens = ctx.balanced_test_tokens()
        sets = {"saes": dicts.edited.load(ctx)}
        if compare is not None:
            sets["gsae"] = compare.load(ctx)
        result = evaluate_sae_sets(ctx.lm, sets, tokens)
        write_json(d / "eval.json", result)
        return {}

    stage = ctx.runner.run("sae-eval", inputs, fn)
    return json.loads((stage.dir / "eval.json").read_text()), stage.key
