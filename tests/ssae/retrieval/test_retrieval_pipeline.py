"""End to end on a small labelled corpus: precision per method, outputs, reuse, user errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ssae.errors import DataError
from ssae.retrieval import (
    METHODS,
    RetrievalResult,
    compare_methods,
    render_precision_table,
    retrieve,
)
from ssae.tokens import TokenDataset

BUDGET = 1200  # tokens; the corpus's 52 biographies hold ~1830, so precision 1 is attainable


def rerank_bound(per_topic: dict, topic: str, n_selected: int, z: float = 2.0) -> float:
    """Precision a random re-ranking of the candidate pool would exceed with probability ~2%:
    the pool's topic fraction p plus z hypergeometric standard deviations."""
    pool = sum(per_topic.values())
    p = per_topic.get(topic, 0) / pool
    sd = math.sqrt(p * (1 - p) / n_selected * (pool - n_selected) / max(1, pool - 1))
    return p + z * sd


@pytest.fixture(scope="module")
def lm(neox_dir):
    from ssae.models import load_model

    return load_model(neox_dir)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, synth_corpus, bio_seeds, lm, neox_saes):
    tmp = tmp_path_factory.mktemp("runs")
    rows, results = compare_methods(
        synth_corpus,
        bio_seeds,
        "bio",
        lm,
        tmp / "out",
        BUDGET,
        saes=neox_saes,
        cache_dir=str(tmp / "cache"),
    )
    return rows, results, tmp


def test_every_method_retrieves_mostly_biographies(runs):
    rows, results, tmp = runs
    print("\n" + render_precision_table(rows, "bio"))
    by = {r["method"]: r for r in rows}
    assert set(by) == set(METHODS)
    # Biographies share words (degree, university, years, job titles) and phrasing that no other
    # topic has; both retrievers should rank essentially all of them first. Chance is 0.17.
    for m in ("dense", "bm25"):
        assert by[m]["precision"] >= 0.9, by[m]
    # TracIn with a random model and SAE only has to beat a random re-ranking of its candidates.
    for m in ("dense+tracin", "bm25+tracin"):
        cand = results[m].report["candidates"]
        bound = rerank_bound(cand["per_topic"], "bio", by[m]["n_docs"])
        assert by[m]["precision"] > bound, (by[m], cand, bound)
    assert json.loads((tmp / "out" / "precision.json").read_text())["rows"] == rows


@pytest.mark.parametrize("method", METHODS)
def test_outputs_are_the_selected_documents(runs, method, lm, synth_corpus):
    _, results, _ = runs
    res = results[method]
    out = res.out_dir
    tokens = TokenDataset.load(out / "tokens")
    docs = {
        json.loads(line)["id"]: json.loads(line) for line in synth_corpus.read_text().splitlines()
    }
    assert tokens.doc_ids == res.doc_ids and len(tokens) == len(res.doc_ids)
    assert tokens.n_tokens == res.n_tokens >= BUDGET
    assert res.n_tokens - tokens.lengths[-1] < BUDGET  # stopped as soon as the budget was reached
    for j, doc_id in enumerate(tokens.doc_ids):
        want = lm.tokenizer(docs[doc_id]["text"], add_special_tokens=False)["input_ids"][:128]
        assert tokens.input_ids[j, : tokens.lengths[j]].tolist() == want
    assert np.all(np.diff(res.scores) <= 1e-9)  # best first
    report = json.loads((out / "report.json").read_text())
    assert report["selected"]["n_docs"] == len(res.doc_ids) and report["selected"]["budget_reached"]
    assert {r["topic"] for r in report["per_topic"]} == {"bio", "physics", "general"}
    assert report["top_documents"][0]["id"] == res.doc_ids[0]
    assert "| rank | id | topic |" in (out / "report.md").read_text()
    assert RetrievalResult.load(out).doc_ids == res.doc_ids


def test_rerun_reuses_outputs_and_indexes(runs, synth_corpus, bio_seeds, lm, neox_saes):
    _, results, tmp = runs
    res = results["dense"]
    report_mtime = (res.out_dir / "report.json").stat().st_mtime_ns
    again = retrieve(
        synth_corpus,
        bio_seeds,
        lm,
        res.out_dir,
        method="dense",
        budget_tokens=BUDGET,
        cache_dir=str(tmp / "cache"),
    )
    assert again.doc_ids == res.doc_ids
    assert (res.out_dir / "report.json").stat().st_mtime_ns == report_mtime
    index_files = sorted((tmp / "cache" / "dense").glob("*/index.faiss"))
    assert len(index_files) == 1
    mtime = index_files[0].stat().st_mtime_ns
    smaller = retrieve(
        synth_corpus,
        bio_seeds,
        lm,
        tmp / "smaller",
        method="dense",
        budget_tokens=BUDGET // 2,
        cache_dir=str(tmp / "cache"),
    )
    assert smaller.doc_ids == res.doc_ids[: len(smaller.doc_ids)]  # same ranking, shorter prefix
    assert index_files[0].stat().st_mtime_ns == mtime  # built once, reused
    assert len(sorted((tmp / "cache" / "bm25").glob("*/ids.json"))) == 1


@pytest.mark.slow
def test_corpus_embedded_elsewhere_is_not_embedded_again(
    tmp_path, synth_corpus, bio_seeds, lm, monkeypatch
):
    """`embed_corpus` on a copy of the corpus at another path (a world before it is moved into
    place) leaves a dense `retrieve` only the seeds to embed, with the same selection as a
    retrieve that embeds everything itself."""
    import shutil

    from ssae.retrieval import RetrievalConfig
    from ssae.retrieval.embed import Embedder
    from ssae.retrieval.pipeline import embed_corpus

    fresh = _retrieve(synth_corpus, bio_seeds, lm, tmp_path / "a" / "out", "dense")
    early = tmp_path / "early" / "corpus.jsonl"
    early.parent.mkdir()
    shutil.copy(synth_corpus, early)
    cache = tmp_path / "b" / "cache"
    embed_corpus(early, lm.name, RetrievalConfig(cache_dir=str(cache)))
    assert len(list((cache / "embeddings").glob("*.npy"))) == 1
    embedded = []
    real = Embedder.embed
    monkeypatch.setattr(
        Embedder,
        "embed",
        lambda self, texts, **kw: embedded.append(len(texts)) or real(self, texts, **kw),
    )
    res = _retrieve(synth_corpus, bio_seeds, lm, tmp_path / "b" / "out", "dense")
    assert embedded == [len(bio_seeds)]
    assert res.doc_ids == fresh.doc_ids and res.scores == fresh.scores


def _retrieve(corpus, seeds, lm, out, method, **settings):
    """`retrieve` with the runs' budget and their shared index cache (next to `out`)."""
    settings = {"budget_tokens": BUDGET, **settings}
    cache = str(out.parent / "cache")
    return retrieve(corpus, seeds, lm, out, method=method, cache_dir=cache, **settings)


def _cli_args(corpus, model, out) -> list[str]:
    """`shift retrieve` with BM25 over `corpus`, `model`'s tokenizer, writing to `out`."""
    paths = ["--corpus", str(corpus), "--model", str(model), "--out", str(out)]
    return ["retrieve", *paths, "--method", "bm25"]


def _empty(path) -> bool:
    return not path.exists() or not any(path.iterdir())


def test_threshold_that_matches_nothing(runs, synth_corpus, bio_seeds, lm):
    _, _, tmp = runs
    out = tmp / "nothing"
    with pytest.raises(DataError, match="no document scores >= threshold"):
        _retrieve(synth_corpus, bio_seeds, lm, out, "bm25", threshold=1.01)
    assert _empty(out)


def test_threshold_limits_the_selection(runs, synth_corpus, bio_seeds, lm):
    _, results, tmp = runs
    full = results["dense"]
    thr = full.scores[9]  # ten documents score at least this; they hold less than the budget
    res = _retrieve(synth_corpus, bio_seeds, lm, tmp / "thr", "dense", threshold=thr)
    assert res.doc_ids == full.doc_ids[:10] and min(res.scores) >= thr
    assert not res.budget_reached and res.report["warnings"]
    assert "NOT reached" in (tmp / "thr" / "report.md").read_text()


def test_budget_larger_than_corpus(runs, synth_corpus, bio_seeds, lm):
    _, _, tmp = runs
    out = tmp / "too_big"
    with pytest.raises(DataError, match="exceeds the whole corpus"):
        _retrieve(synth_corpus, bio_seeds, lm, out, "bm25", budget_tokens=10**9)
    assert _empty(out)


def test_cli_errors_are_one_line_and_write_nothing(tmp_path, synth_corpus, neox_dir, capsys):
    from shift.cli import main

    empty = tmp_path / "seeds.txt"
    empty.write_text("\n  \n")
    out = tmp_path / "out"
    args = _cli_args(synth_corpus, neox_dir, out)
    with pytest.raises(SystemExit) as e:
        main(args + ["--seeds", str(empty)])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 1 and err.startswith("Error:") and "empty" in err and "\n" not in err
    assert _empty(out)
    with pytest.raises(SystemExit) as e:
        main(args + ["--seeds", str(empty).replace("seeds", "missing")])
    assert e.value.code == 1 and "does not exist" in capsys.readouterr().err


def test_cli_runs_and_has_help(tmp_path, synth_corpus, neox_dir, bio_seeds, capsys):
    from shift.cli import main

    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("".join(json.dumps({"text": s}) + "\n" for s in bio_seeds))
    out = tmp_path / "out"
    main(["retrieve", "--help"])
    assert "--budget" in capsys.readouterr().out
    args = _cli_args(synth_corpus, neox_dir, out)
    main(args + ["--seeds", str(seeds), "--budget", "1.2k", "--n-seeds", "3"])
    assert "selected" in capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    assert report["selected"]["budget_tokens"] == 1200 and len(report["seeds"]) == 3
    assert TokenDataset.load(out / "tokens").n_tokens >= 1200
