"""`shift study` end to end on the micro world: files, JSON schemas, shared cached runs, errors."""

from __future__ import annotations

import json

import pytest

from shift.cli import main


def _cli(*args) -> None:
    try:
        main(["study", *args, "--preset", "micro", "--quiet"])
    except SystemExit as e:  # main exits only on errors
        raise AssertionError(f"shift study {args} exited with {e.code}") from e


def _pngs_ok(out, names):
    for n in names:
        assert (out / n).stat().st_size > 2000, n


@pytest.fixture(scope="module")
def term_ts(micro_world, tmp_path_factory):
    out = tmp_path_factory.mktemp("term")
    _cli("term", "--domain", "tinystories", "--out", str(out))
    return out, json.loads((out / "term.json").read_text())


def test_term_from_scratch_writes_its_report(term_ts):
    out, r = term_ts
    assert set(r) >= {"runs", "splits", "objective", "tail", "timings_s", "settings"}
    assert list(r["runs"]) == ["ERM", "TERM t=500", "TERM t=1e+09"]
    assert all(s["kind"] == "scratch" for s in r["runs"].values())
    erm_l0 = r["splits"]["ERM"]["val"]["l0"]
    for label, spec in r["runs"].items():
        if spec["tilt"]:
            assert spec["target_l0"] == pytest.approx(erm_l0)
        o = r["objective"][label]
        assert o["max_error"] >= o["p99_error"] >= 0 and o["mean_error"] <= o["max_error"]
        assert 1 <= o["pca_components_90"] <= 64 and 0 <= o["max_cos"]["mean"] <= 1
        assert (
            sum(o["pairwise_cos"]["counts"]) == o["alive_features"] * (o["alive_features"] - 1) // 2
        )
        assert {"test", "val"} <= set(r["splits"][label])
    # TERM weights: every token counts at t = 0, fewer as the tilt grows
    eff = r["tilt_effective_tokens"]
    n_test = sum(b["n_tokens"] for b in r["objective"]["ERM"]["error_by_rank"])
    assert eff["0"] == pytest.approx(min(1024, n_test))
    assert 1 <= eff["1e+09"] <= eff["500"] < eff["0"]
    md = (out / "term.md").read_text()
    assert "| ERM |" in md and "term_error_by_rank.png" in md and "Effective tokens" in md
    _pngs_ok(
        out,
        [
            "term_error_by_rank.png",
            "term_error_hist.png",
            "term_max_cos.png",
            "term_entropy.png",
            "term_max_act.png",
            "term_coverage_by_bucket.png",
        ],
    )


def test_rerun_is_served_from_the_cache(term_ts, tmp_path):
    _cli("term", "--domain", "tinystories", "--out", str(tmp_path))
    r = json.loads((tmp_path / "term.json").read_text())
    assert {"study-data", "study-scratch", "study-eval", "study-measure"} <= set(r["cached_stages"])
    assert r["objective"] == term_ts[1]["objective"]


def test_tail_reports_coverage_counts_and_planted_recall(micro_world, tmp_path):
    _cli("tail", "--domain", "physics", "--out", str(tmp_path))
    r = json.loads((tmp_path / "tail.json").read_text())
    models = r["models"]
    assert list(models) == ["GSAE", "Full corpus", "SSAE", "TERM-SSAE (t=500)", "Boost"]
    n_buckets = len(r["buckets"])
    sizes = [b["n_tokens"] for b in r["buckets"]]
    for m in models.values():
        assert [c["n_tokens"] for c in m["coverage"]] == sizes and n_buckets >= 3
        assert all(0 <= c["share"] <= 1 for c in m["coverage"])
        assert m["cumulative"]["share"][-1] == pytest.approx(1.0)
        assert len(m["concepts"]) == 12 and 0 <= m["concept_recall"] <= 1
        for c in m["concepts"].values():
            assert 0 <= c["best_f1"] <= 1 and c["n_tokens"] > 0
    # features finetuned from one parent keep their index: ratios against the full baseline
    assert "log_ratio" in models["SSAE"] and "log_ratio" not in models["Boost"]
    assert len(models["Boost"]["counts_by_rank"]) == 256 + 64  # GSAE + residual features
    _pngs_ok(
        tmp_path,
        [
            "tail_coverage_by_bucket.png",
            "tail_cumulative_coverage.png",
            "tail_counts_by_rank.png",
            "tail_log_ratio.png",
            "tail_concept_recall.png",
            "tail_recall_vs_frequency.png",
        ],
    )


def test_data_selection_and_pareto_share_runs(micro_world, tmp_path, monkeypatch):
    from shift.study import report
    from shift.study.context import open_study
    from shift.study.studies import data_selection, pareto

    small = {"l1_factors": (0.5, 2.0), "seeds": (0,)}
    ctx = open_study("micro", "physics", quiet=True, study_overrides=small)
    ds = data_selection(ctx)
    assert list(ds["methods"]) == [
        "full",
        "seed",
        "dense",
        "bm25",
        "dense+tracin",
        "bm25+tracin",
        "boost",
    ]
    for m in ds["methods"].values():
        for split in ("test", "ood"):
            a = m["auc"][split]
            assert len(a["per_seed"]) == 1 and a["std"] == 0.0 and a["mean"] > 1
            assert a["l0_range"][0] < a["l0_range"][1] and len(a["points"]) == 2
    assert ds["methods"]["dense"]["selection"]["precision"] == 1.0

    def no_training(*args, **kwargs):
        raise AssertionError("pareto retrained a run that data-selection had cached")

    monkeypatch.setattr("ssae.train.finetune_saes", no_training)
    pa = pareto(ctx)  # the same runs, served from the stage cache
    assert pa["curves"]["SSAE (dense)"]["test"] == ds["methods"]["dense"]["auc"]["test"]
    meta = dict(
        study="pareto",
        domain="physics",
        preset="micro",
        submodule=ctx.submodule,
        gsae_l1=ctx.gsae_l1(),
        timings_s={},
    )
    files = report.write("pareto", pa | meta, tmp_path)
    assert [f.name for f in files][-4:] == [
        "pareto_test.png",
        "pareto_test_relative.png",
        "pareto_ood.png",
        "pareto_ood_relative.png",
    ]
    _pngs_ok(tmp_path, [f.name for f in files if f.suffix == ".png"])


@pytest.mark.parametrize(
    "args, message",
    [
        (("tail", "--domain", "tinystories"), "domain tinystories supports only term"),
        (("term", "--domain", "physics", "--threads", "0"), "--threads must be >= 1"),
    ],
)
def test_bad_requests_are_one_line_errors(args, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(["study", *args, "--preset", "micro"])
    assert e.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("Error:") and message in err and "Traceback" not in err
