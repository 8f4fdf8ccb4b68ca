"""Stage `feature-contexts`: what the circuit explorer's cards show, for every feature of the
run's dictionaries (`circuits.feature_contexts`): top-activating contexts on the balanced test
biographies, activation frequency, logit-lens tokens, and each dictionary's FVU and L0 there.

Its key names the dictionaries, the model and the data, not a circuit: every circuit drawn on the
same SAEs (another metric, other thresholds) reuses it without a model pass.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from shift.stages.context import RunContext
from shift.stages.dictionaries import Dictionaries


@dataclass(frozen=True)
class FeatureContextsResult:
    """The feature contexts of one dictionary set."""

    key: str
    """Cache key of the stage."""
    dir: Path
    """Stage directory (`circuits.feature_contexts.FeatureContexts` layout under `contexts/`)."""

    def load(self):
        from circuits.feature_contexts import FeatureContexts

        return FeatureContexts.load(self.dir / "contexts")


def run_feature_contexts(ctx: RunContext, saes: Dictionaries) -> FeatureContextsResult:
    from circuits.feature_contexts import FeatureContextsConfig, compute_feature_contexts

    config = FeatureContextsConfig()
    inputs = {
        "saes": saes.key,
        "model": ctx.model_key,
        "bib": ctx.bib_key,
        "ctx_len": ctx.preset.ctx_len,
        "config": asdict(config),
    }

    def fn(d: Path) -> dict:
        tokens = ctx.balanced_test_tokens()
        contexts = compute_feature_contexts(ctx.lm, saes.load(ctx), tokens, config)
        contexts.save(d / "contexts")
        return {
            "n_tokens": tokens.n_tokens,
            "features": sum(len(v) for v in contexts.values.values()),
        }

    stage = ctx.runner.run("feature-contexts", inputs, fn)
    return FeatureContextsResult(stage.key, stage.dir)
