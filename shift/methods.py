"""The methods of the results table, each one value: what it trains or edits, and how.

Two kinds of method fill the table (Marks et al. 2024, Table 3; Muhamed et al. 2024, Table 1):

- a *probe recipe* trains a classifier on pooled activations of the unedited model: Original
  (ambiguous set), Oracle (balanced set), CBP (concept bottleneck), and gendered-word deletion
  (pronouns, gendered names and titles removed from the text first);
- an *edit recipe* changes the model and reads it with the Original probe: which dictionaries
  (general SAEs, specialised SAEs, or the neurons themselves), whether they are compressed to their
  first features, what an ablated feature is set to (zero, or its mean for the neuron skyline), how
  the ablated features are chosen (the skyline over a circuit's gender effects, or SAEBench's
  automatic ranking without a circuit), and whether the probe is retrained afterwards.

The stages (`shift.stages`) read these fields; none of them branches on a method's name. A new
method is one entry of `METHODS` (plus its own code when it needs a new kind of value).
Original, CBP and Oracle are the reference rows of every run; `--method` picks one other method.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Literal

from ssae.configs import check_choices
from ssae.errors import ConfigError

TrainSet = Literal["ambiguous", "balanced"]
Classifier = Literal["linear", "cbp"]
TextView = Literal["as written", "gendered words deleted"]
DictionaryKind = Literal["gsae", "ssae", "neurons"]
Fill = Literal["zero", "mean"]
Ranking = Literal["circuit", "saebench"]
FinetuneData = Literal["retrieved", "general"]
FinetuneRecipe = Literal["preset", "paper"]
SelectBy = Literal["profession", "worst group"]


@dataclass(frozen=True)
class ProbeRecipe:
    """A classifier trained on the unedited model's pooled activations."""

    train_set: TrainSet
    """`ambiguous` (male A vs female B: profession and gender agree) or `balanced`."""
    classifier: Classifier = "linear"
    """A linear probe, or a concept bottleneck probe (`probes.cbp`)."""
    text: TextView = "as written"
    """The biographies as written, or with their gendered words deleted (`shift.data.scrub`)."""

    def __post_init__(self):
        check_choices(self)


@dataclass(frozen=True)
class EditRecipe:
    """Ablate chosen features inside the model; the Original probe reads the edited model."""

    dictionaries: DictionaryKind
    """General SAEs, specialised SAEs (the GSAEs finetuned on retrieved subdomain data), or the
    neurons (identity dictionaries: the neuron skyline)."""
    compressed: bool = False
    """Keep each dictionary's first `compress_k` features; an SSAE is sliced before finetuning."""
    fill: Fill = "zero"
    """An ablated feature is set to zero, or to its mean over the balanced set."""
    ranking: Ranking = "circuit"
    """Candidates ranked by their indirect effect on the probe's gender read-out (the circuit
    stage), or by SAEBench's |mean activation difference x gender-probe weight projection|."""
    retrain: bool = True
    """Also retrain the probe on the edited model's activations (a `+ retrain` row)."""
    finetune_data: FinetuneData = "retrieved"
    """SSAEs: finetuned on retrieved subdomain documents, or on as many random corpus documents
    (the control that separates "specialised data" from "any finetuning after the cut")."""
    finetune_recipe: FinetuneRecipe = "preset"
    """SSAEs: the preset's finetuning recipe, or the paper's proportions (one epoch at lr 1e-4
    on retrieved tokens = 8M / 2B of the GSAE's training tokens, at least one full step)."""
    select_by: SelectBy = "profession"
    """The skyline's k maximises dev profession accuracy (the papers') or dev worst-group."""
    max_k: int | None = None
    """The skyline sweeps k = 1..max_k; None is the run's `--max-k` (200)."""

    def __post_init__(self):
        check_choices(self)
        if self.dictionaries != "ssae" and (
            self.finetune_data != "retrieved" or self.finetune_recipe != "preset"
        ):
            raise ConfigError("finetune_data and finetune_recipe apply to SSAE methods only")
        if self.max_k is not None and self.max_k < 1:
            raise ConfigError("max_k must be >= 1")


@dataclass(frozen=True)
class Method:
    """One row (and its `+ retrain` row) of the results table."""

    key: str
    """Name on the command line (`--method KEY`)."""
    label: str
    """Row label in the table."""
    probe: ProbeRecipe | None = None
    """Set for methods that train a classifier on the unedited model."""
    edit: EditRecipe | None = None
    """Set for methods that edit the model."""
    reference: bool = False
    """Reported in every run (Original, CBP, Oracle)."""

    def __post_init__(self):
        if (self.probe is None) == (self.edit is None):
            raise ConfigError(f"method {self.key}: give exactly one of a probe or an edit recipe")

    def row_labels(self, tilt: float = 0.0, arch: str = "relu") -> list[str]:
        """Labels of the rows this method adds to the table (the SAE architecture is named
        when it is not the papers' ReLU + L1)."""
        label = self.label
        if tilt and self.edit is not None and self.edit.dictionaries == "ssae":
            label = label.replace("SSAE", f"SSAE (TERM t={tilt:g})")
        labels = [label, f"{label} + retrain"] if self.edit and self.edit.retrain else [label]
        return [with_arch(x, arch) if self.edit else x for x in labels]


def with_arch(label: str, arch: str) -> str:
    """A row label with its SAE architecture, e.g. `GSAE SHIFT + retrain [topk]` (ReLU + L1, the
    papers' architecture, and the neurons are not named)."""
    return label if arch == "relu" or label.startswith("Neuron") else f"{label} [{arch}]"


DELETED: TextView = "gendered words deleted"
GEN: FinetuneData = "general"
WG: SelectBy = "worst group"
PAPER_RETRIEVAL_RATIO = 8_000_000 / 2_000_000_000
"""The SSAE paper's retrieved tokens per GSAE training token (8M retrieved, GSAEs on 2B)."""
METHODS: dict[str, Method] = {
    m.key: m
    for m in (
        Method("original", "Original", ProbeRecipe("ambiguous"), reference=True),
        Method("cbp", "CBP", ProbeRecipe("ambiguous", "cbp"), reference=True),
        Method("gendered-words", "Gendered-word deletion", ProbeRecipe("ambiguous", text=DELETED)),
        Method("neurons", "Neuron skyline", edit=EditRecipe("neurons", fill="mean", retrain=False)),
        Method("gsae", "GSAE SHIFT", edit=EditRecipe("gsae")),
        Method("ssae", "SSAE SHIFT", edit=EditRecipe("ssae")),
        Method("comp-gsae", "Comp. GSAE SHIFT", edit=EditRecipe("gsae", compressed=True)),
        Method("comp-ssae", "Comp. SSAE SHIFT", edit=EditRecipe("ssae", compressed=True)),
        Method("saebench", "GSAE SAEBench top-N", edit=EditRecipe("gsae", ranking="saebench")),
        # Controls (issue 29): general-data finetuning, the paper's finetuning proportions, and
        # the skyline's k chosen on dev worst-group accuracy or swept to 400.
        Method(
            "ssae-general", "General-finetune SHIFT", edit=EditRecipe("ssae", finetune_data=GEN)
        ),
        Method(
            "comp-ssae-general",
            "Comp. general-finetune SHIFT",
            edit=EditRecipe("ssae", compressed=True, finetune_data=GEN),
        ),
        Method(
            "ssae-paper",
            "SSAE SHIFT (paper recipe)",
            edit=EditRecipe("ssae", finetune_recipe="paper"),
        ),
        Method(
            "comp-ssae-paper",
            "Comp. SSAE SHIFT (paper recipe)",
            edit=EditRecipe("ssae", compressed=True, finetune_recipe="paper"),
        ),
        Method(
            "gsae-wg", "GSAE SHIFT (k by dev worst group)", edit=EditRecipe("gsae", select_by=WG)
        ),
        Method(
            "ssae-wg", "SSAE SHIFT (k by dev worst group)", edit=EditRecipe("ssae", select_by=WG)
        ),
        Method("gsae-k400", "GSAE SHIFT (max k 400)", edit=EditRecipe("gsae", max_k=400)),
        Method("ssae-k400", "SSAE SHIFT (max k 400)", edit=EditRecipe("ssae", max_k=400)),
        Method("oracle", "Oracle", ProbeRecipe("balanced"), reference=True),
    )
}
"""Every method, in table order (Oracle, the skyline of what a debiased probe can reach, last)."""

REFERENCE = tuple(m for m in METHODS.values() if m.reference)
CHOICES = tuple(k for k, m in METHODS.items() if not m.reference)
"""What `--method` accepts."""


def get_method(key: str) -> Method:
    """The method `key` that a run adds to the reference rows; a one-line error otherwise."""
    if key not in CHOICES:
        raise ConfigError(f"unknown --method {key!r}; choose one of {', '.join(CHOICES)}")
    return METHODS[key]


@functools.cache
def paper_numbers() -> dict[str, tuple[float, float, float]]:
    """Row label -> the paper's (profession, gender, worst-group) accuracy in %
    (`shift/data/paper_table.json`)."""
    text = resources.files("shift.data").joinpath("paper_table.json").read_text("utf-8")
    return {label: tuple(v) for label, v in json.loads(text)["rows"].items()}
