"""Metrics against values computed by hand."""

from __future__ import annotations

import json
import math

import torch

from probes.metrics import ProbeMetrics, accuracy, evaluate_predictions, format_table, write_results

# pool of 8: two per (profession, gender) group; index sets into it
PROF = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
GENDER = torch.tensor([0, 0, 1, 1, 0, 0, 1, 1])
PRED = torch.tensor([0, 0, 1, 1, 0, 1, 1, 1])
GROUPS = {
    "professor/male": torch.tensor([0, 1]),
    "professor/female": torch.tensor([2, 3]),
    "nurse/male": torch.tensor([4, 5]),
    "nurse/female": torch.tensor([6, 7]),
}


def test_hand_computed():
    m = evaluate_predictions(
        "Original",
        PRED,
        PROF,
        GENDER,
        balanced=torch.arange(8),
        ambiguous=torch.tensor([0, 1, 6, 7]),
        groups=GROUPS,
    )
    # profession: rows 0,1,5,6,7 right -> 5/8; gender: all but row 5 -> 7/8
    assert m.profession_acc == 5 / 8 and m.gender_acc == 7 / 8
    assert m.group_acc == {
        "professor/male": 1.0,
        "professor/female": 0.0,
        "nurse/male": 0.5,
        "nurse/female": 1.0,
    }
    assert m.worst_group_acc == 0.0 and m.worst_group == "professor/female"
    assert m.ambiguous_acc == 1.0
    # a balanced subset: rows 1, 2, 4, 7 -> profession right on 1, 7; gender right on 1, 2, 4, 7
    sub = evaluate_predictions(
        "x", PRED, PROF, GENDER, torch.tensor([1, 2, 4, 7]), torch.tensor([2]), GROUPS
    )
    assert sub.profession_acc == 0.5 and sub.gender_acc == 1.0 and sub.ambiguous_acc == 0.0


def test_accuracy_edge_cases():
    assert accuracy(torch.tensor([1, 0]), torch.tensor([1, 1])) == 0.5
    assert math.isnan(
        accuracy(torch.tensor([], dtype=torch.long), torch.tensor([], dtype=torch.long))
    )


def test_table_and_json(tmp_path):
    rows = [
        ProbeMetrics("Original", 0.619, 0.874, 0.244, 0.99),
        ProbeMetrics("Oracle", 0.93, 0.494, 0.919, 0.95),
    ]
    table = format_table(rows)
    lines = table.splitlines()
    assert lines[0].split()[:2] == ["method", "profession"]
    assert lines[2].split() == ["Original", "61.9", "87.4", "24.4", "99.0"]
    write_results(tmp_path / "r.json", rows, preset="tiny")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["preset"] == "tiny"
    assert [r["method"] for r in data["rows"]] == ["Original", "Oracle"]
    assert data["rows"][1]["worst_group_acc"] == 0.919
