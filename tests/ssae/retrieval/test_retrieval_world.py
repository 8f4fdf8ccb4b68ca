"""On the micro world: seeds from its Bias-in-Bios data retrieve its corpus's biographies."""

from __future__ import annotations

import json

import pytest

from ssae.retrieval import METHODS, compare_methods, render_precision_table

pytest.importorskip("shift.world")

BUDGET = 2000  # ~16 documents of <= 128 tokens; the subset below holds 30 biographies


@pytest.fixture(scope="module")
def world_subset(micro_world, tmp_path_factory):
    """Every biography of the corpus plus every 10th other document (keeps dense embedding short)."""
    rows = [json.loads(line) for line in micro_world.corpus.read_text().splitlines()]
    keep = [r for i, r in enumerate(rows) if r["topic"] == "biography" or i % 10 == 0]
    path = tmp_path_factory.mktemp("micro") / "subset.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in keep))
    return path, keep


def test_world_precision_table(micro_world, world_subset, tmp_path):
    import pandas as pd

    from ssae.models import load_model
    from tests.ssae.retrieval.retrieval_helpers import save_sae, train_sae

    path, docs = world_subset
    lm = load_model(micro_world.model)
    seeds = pd.read_parquet(micro_world.bib / "train.parquet")["hard_text"].tolist()[:5]
    layer = lm.n_layers // 2
    ae = train_sae(lm, f"resid_out_layer{layer}", [d["text"] for d in docs], 4 * lm.d_model, 0.05)
    saes = save_sae(ae, tmp_path / "saes", f"resid_out_layer{layer}", 0.05)
    rows, results = compare_methods(
        path,
        seeds,
        "biography",
        lm,
        tmp_path / "out",
        BUDGET,
        saes=saes,
        cache_dir=str(tmp_path / "cache"),
    )
    print("\n" + render_precision_table(rows, "biography"))
    by = {r["method"]: r for r in rows}
    assert set(by) == set(METHODS)
    base = sum(d["topic"] == "biography" for d in docs) / len(docs)  # ~0.1: random selection
    for m in (m for m in METHODS if m != "random"):
        # The world's biographies and its BiB texts come from the same generator and vocabulary,
        # while no other topic talks about careers and degrees: every method should be near 1.
        assert by[m]["precision"] >= 0.8 > 4 * base, by[m]
    # The control takes the corpus in a seeded random order: about the base rate.
    assert by["random"]["precision"] < 0.5, by["random"]
