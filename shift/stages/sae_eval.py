"""Stage `sae-eval`: L0, FVU and spliced cross-entropy of the edited dictionaries on the balanced
test biographies (`ssae.evaluate`); SSAEs are evaluated next to their general parent.

The general parent's evaluation is its own cached stage, shared by every run on it (every run
seed of an SSAE method), and it lends the SSAE's evaluation the model's clean and zero-ablation
cross-entropy, so an SSAE run evaluates only what it changed: 1 + n forward passes per batch
(activations, then each submodule spliced) instead of 1 + 3n for both sets together."""

from __future__ import annotations

import json
from pathlib import Path

from shift.stages.context import RunContext
from shift.stages.dictionaries import Dictionaries, EditedDictionaries
from ssae.io import write_json


def run_sae_eval(ctx: RunContext, dicts: EditedDictionaries) -> tuple[dict, str]:
    """The evaluation ({"saes": ..., "gsae": ...} of `ssae.evaluate.evaluate_sae_sets`
    results) and the key of the edited set's evaluation."""
    compare = dicts.general if dicts.general != dicts.edited else None
    general = _evaluate(ctx, compare) if compare is not None else None
    edited, key = _evaluate(ctx, dicts.edited, general)
    result = {"saes": edited}
    if general is not None:
        result["gsae"] = general[0]
    return result, key


def _evaluate(ctx: RunContext, saes: Dictionaries, reference: tuple[dict, str] | None = None):
    """(result, stage key) of one set's evaluation."""
    from ssae.evaluate import evaluate_sae_sets

    inputs = {
        "saes": saes.key,
        "model": ctx.model_key,  # a user's dictionary folder's key does not name the model
        "bib": ctx.bib_key,
        "reference": reference[1] if reference is not None else None,
    }

    def fn(d: Path) -> dict:
        tokens = ctx.balanced_test_tokens()
        known = reference[0] if reference is not None else None
        result = evaluate_sae_sets(ctx.lm, {"saes": saes.load(ctx)}, tokens, reference=known)
        write_json(d / "eval.json", result["saes"])
        return {}

    stage = ctx.runner.run("sae-eval", inputs, fn)
    return json.loads((stage.dir / "eval.json").read_text()), stage.key
