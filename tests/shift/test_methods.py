"""The method registry: every row of the table is one value that the stages read."""

from __future__ import annotations

import pytest

from shift.methods import CHOICES, METHODS, REFERENCE, EditRecipe, Method, ProbeRecipe, get_method
from ssae.errors import ToolkitError

# The papers' table (Muhamed et al. 2024, Table 1; Marks et al. 2024), as it stood in report.py:
# label -> (profession, gender, worst group).
PAPER = {"Original": (61.9, 87.4, 24.4), "CBP": (83.3, 60.1, 67.7), "Oracle": (93.0, 49.4, 91.9)}
PAPER |= {"Neuron skyline": (75.5, 73.2, 41.5), "GSAE SHIFT": (88.5, 54.0, 76.0)}
PAPER |= {"SSAE SHIFT": (90.2, 53.4, 88.5), "GSAE SHIFT + retrain": (93.1, 52.0, 89.0)}
PAPER |= {"SSAE SHIFT + retrain": (93.4, 51.9, 89.5), "Comp. GSAE SHIFT": (80.5, 68.2, 48.6)}
PAPER |= {"Comp. SSAE SHIFT": (89.6, 52.2, 78.8), "Comp. SSAE SHIFT + retrain": (93.2, 52.1, 88.5)}
PAPER |= {"Comp. GSAE SHIFT + retrain": (80.0, 68.8, 57.1)}


def test_registry_carries_the_papers_numbers():
    from shift.methods import paper_numbers

    assert paper_numbers() == PAPER
    # every row label a method produces that the paper reports is in the table
    labels = {label for m in METHODS.values() for label in m.row_labels()}
    assert set(PAPER) <= labels


def test_rows_are_values_the_stages_read():
    assert [m.label for m in REFERENCE] == ["Original", "CBP", "Oracle"]
    assert list(METHODS)[-1] == "oracle"  # the skyline of a debiased probe: last in the table
    assert METHODS["comp-ssae"].edit == EditRecipe("ssae", compressed=True)
    assert METHODS["neurons"].edit == EditRecipe("neurons", fill="mean", retrain=False)
    assert METHODS["cbp"].probe == ProbeRecipe("ambiguous", "cbp")
    # the two rows a reviewer asks for, one entry each
    assert METHODS["gendered-words"].probe == ProbeRecipe(
        "ambiguous", text="gendered words deleted"
    )
    assert METHODS["saebench"].edit == EditRecipe("gsae", ranking="saebench")
    assert {"gendered-words", "saebench", "gsae", "neurons"} <= set(CHOICES)
    assert not {"original", "cbp", "oracle"} & set(CHOICES)


def test_row_labels():
    assert METHODS["ssae"].row_labels() == ["SSAE SHIFT", "SSAE SHIFT + retrain"]
    assert METHODS["ssae"].row_labels(500) == [
        "SSAE (TERM t=500) SHIFT",
        "SSAE (TERM t=500) SHIFT + retrain",
    ]
    assert METHODS["gsae"].row_labels(500) == ["GSAE SHIFT", "GSAE SHIFT + retrain"]
    assert METHODS["neurons"].row_labels() == ["Neuron skyline"]
    assert METHODS["gendered-words"].row_labels() == ["Gendered-word deletion"]
    assert METHODS["gsae"].row_labels(0, "topk") == [
        "GSAE SHIFT [topk]",
        "GSAE SHIFT + retrain [topk]",
    ]
    assert METHODS["neurons"].row_labels(0, "topk") == ["Neuron skyline"]
    assert METHODS["gendered-words"].row_labels(0, "topk") == ["Gendered-word deletion"]


def test_bad_methods_are_one_line_errors():
    with pytest.raises(ToolkitError, match="unknown --method 'bogus'; choose one of"):
        get_method("bogus")
    with pytest.raises(ToolkitError, match="exactly one of a probe or an edit recipe"):
        Method("x", "X")
    with pytest.raises(ValueError):  # a ConfigError is still a ValueError
        EditRecipe("gsae", ranking="magic")
