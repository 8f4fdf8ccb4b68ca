"""The stages of a SHIFT run, one module each: a function from typed inputs to a typed result.

`probes` (reference rows and the Original probe; `baseline` for classifier methods) ->
`dictionaries` (`gsae`, `retrieve`, `ssae`) -> `circuit` (`gender-effects`, and `circuit` for the
report, annotated from `feature_contexts`) -> `selection` (`skyline`) ->
`edit` (`shift`) -> `sae_eval`, `scr` (`saebench-scr`). Each result carries the cache key of its
stage, which the stages
that read it put into their own keys (`shift.cache.StageRunner`).
"""

from shift.stages.circuit import CircuitResult, GenderEffects, run_circuit, run_gender_effects
from shift.stages.context import RunContext
from shift.stages.dictionaries import Dictionaries, EditedDictionaries, run_dictionaries
from shift.stages.edit import run_edit
from shift.stages.feature_contexts import FeatureContextsResult, run_feature_contexts
from shift.stages.probes import ProbesResult, run_probes
from shift.stages.sae_eval import run_sae_eval
from shift.stages.scr import run_saebench_scr
from shift.stages.selection import SelectionResult, run_selection

__all__ = [
    "CircuitResult",
    "Dictionaries",
    "EditedDictionaries",
    "FeatureContextsResult",
    "GenderEffects",
    "ProbesResult",
    "RunContext",
    "SelectionResult",
    "run_circuit",
    "run_dictionaries",
    "run_edit",
    "run_feature_contexts",
    "run_gender_effects",
    "run_probes",
    "run_sae_eval",
    "run_saebench_scr",
    "run_selection",
]
