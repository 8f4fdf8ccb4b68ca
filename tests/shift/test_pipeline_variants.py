"""`shift run` with another SAE architecture, an SAE seed, SAEBench's SCR and the bench's controls,
end to end on the micro world: what each writes, and that it is the computation it claims."""

from __future__ import annotations

import json

import pytest
import torch

from probes.metrics import unpack_bits
from shift.pipeline import RunConfig, run_pipeline
from shift.stages.scr import SCR_N

FAST = dict(preset="micro", max_k=12, circuit_examples=16, ig_steps=2, circuit_graph=False)


@pytest.fixture(scope="module")
def matryoshka_run(micro_world, tmp_path_factory):
    out = tmp_path_factory.mktemp("matryoshka")
    cfg = RunConfig.from_options(
        method="comp-ssae", arch="matryoshka", sae_seed=1, saebench_scr=True, out=out, **FAST
    )
    return out, run_pipeline(cfg, quiet=True)


def test_an_architecture_and_sae_seed_run_through_every_stage(matryoshka_run):
    from ssae.io import shift_home
    from ssae.sae_set import SAESet

    out, result = matryoshka_run
    methods = [r["method"] for r in result["rows"]]
    assert "Comp. SSAE SHIFT [matryoshka]" in methods
    saved = json.loads((out / "results.json").read_text())
    keys = saved["stage_keys"]
    gsae = SAESet.load(shift_home() / "stages" / "gsae" / keys["gsae"] / "run")
    ssae = SAESet.load(shift_home() / "stages" / "ssae" / keys["ssae"] / "run")
    assert {type(d).__name__ for d in gsae.values()} == {"MatryoshkaBatchTopKSAE"}
    assert gsae.configs["embed"]["trainer"]["seed"] == 1
    # the compressed SSAE: the GSAE's first 32 features (two whole groups), then finetuned
    assert {d.dict_size for d in ssae.values()} == {32}
    assert ssae["embed"].group_sizes.tolist() == [16, 16]
    assert ssae.configs["embed"]["trainer"]["arch"]["name"] == "matryoshka"


def test_results_record_provenance_and_predictions_that_give_the_rows(matryoshka_run):
    out, result = matryoshka_run
    saved = json.loads((out / "results.json").read_text())
    prov = saved["provenance"]
    assert prov["world"]["model_sha256"] and prov["world"]["corpus_sha256"]
    assert prov["code"]["source_sha256"] and prov["torch"] == torch.__version__
    assert prov["preset"]["name"] == "micro" and prov["threads"] >= 1
    pool = saved["test_pool"]
    n = pool["n"]
    prof = unpack_bits(pool["profession"], n)
    balanced = unpack_bits(pool["balanced"], n)
    for row in saved["rows"]:
        pred = unpack_bits(row["predictions"], n)
        acc = float((pred[balanced] == prof[balanced]).float().mean())
        assert acc == pytest.approx(row["profession_acc"], abs=1e-9), row["method"]


def test_saebench_scr_rows(matryoshka_run):
    out, result = matryoshka_run
    scr = json.loads((out / "results.json").read_text())["saebench_scr"]
    assert [r["n"] for r in scr] == list(SCR_N)
    rows = {r["method"]: r for r in result["rows"]}
    original, oracle = rows["Original"]["profession_acc"], rows["Oracle"]["profession_acc"]
    for r in scr:
        assert r["method"] == f"Comp. SSAE SHIFT SAEBench SCR@{r['n']} [matryoshka]"
        assert r["balanced_only"]
        want = (r["profession_acc"] - original) / (oracle - original)
        assert r["scr"] == pytest.approx(want)
    assert "SAEBench SCR" in (out / "results.md").read_text()


@pytest.mark.parametrize("method", ["ssae-general", "ssae-paper", "gsae-wg"])
def test_controls_change_only_what_they_control(method, micro_world, tmp_path):
    """General-data finetuning retrieves random corpus documents with the SSAE's budget; the
    paper recipe retrieves 8M / 2B of the GSAE's tokens (at least one step) and finetunes one
    epoch at lr 1e-4; the worst-group skyline picks k by dev worst-group accuracy."""
    from ssae.io import shift_home

    cfg = RunConfig.from_options(method=method, out=tmp_path / method, sae_eval=False, **FAST)
    result = run_pipeline(cfg, quiet=True)
    saved = json.loads((cfg.out / "results.json").read_text())
    stages = shift_home() / "stages"
    if method != "gsae-wg":
        report = json.loads(
            (
                stages / "retrieve" / saved["stage_keys"]["retrieve"] / "retrieval" / "report.json"
            ).read_text()
        )
        if method == "ssae-general":
            assert report["config"]["method"] == "random"
            assert report["config"]["budget_tokens"] == cfg.retrieval.budget_tokens
        else:
            assert report["config"]["budget_tokens"] == max(
                round(30_000 * 8e6 / 2e9), 16 * 64
            )  # micro: 30k GSAE tokens, batch 16 x 64 tokens
            meta = json.loads(
                (stages / "ssae" / saved["stage_keys"]["ssae"] / "run" / "sae_set.json").read_text()
            )
            assert meta["config"]["lr"] == 1e-4 and meta["config"]["n_tokens"] is None
    else:
        sel = json.loads(
            (stages / "skyline" / saved["stage_keys"]["skyline"] / "selection.json").read_text()
        )
        assert sel["select_by"] == "worst group"
        best = max(sel["sweep"], key=lambda p: (p["worst_group_acc"], -p["k"]))
        assert sel["k"] == best["k"] == result["k"]
