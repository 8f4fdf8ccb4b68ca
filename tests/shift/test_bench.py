"""`shift bench`: the plan of cells, resuming, provenance, and the files it writes."""

from __future__ import annotations

import json

import pytest
import torch

from probes.metrics import pack_bits
from shift.bench import Cell, comparisons, plan

N = 40  # test pool: four groups of 10, all in the balanced set


def _pool():
    prof = torch.tensor([0] * 20 + [1] * 20)
    gender = torch.tensor(([0] * 10 + [1] * 10) * 2)
    return {
        "n": N,
        "profession": pack_bits(prof),
        "gender": pack_bits(gender),
        "balanced": pack_bits(torch.ones(N)),
    }, prof


def _row(label, prof, n_wrong, **metrics):
    pred = prof.clone()
    pred[:n_wrong] = 1 - pred[:n_wrong]
    return {"method": label, "predictions": pack_bits(pred), **metrics}


def _record(world="w1", preset="micro"):
    return {
        "world": {"model_sha256": world, "corpus_sha256": "c"},
        "preset": {"name": preset},
        "code": {"source_sha256": "s"},
        "torch": "2.13.0",
        "blas": "b",
    }


@pytest.fixture(autouse=True)
def _no_world(monkeypatch):
    """The bench's own provenance check reads the world; these runs are fakes of world w1."""
    import shift.provenance

    monkeypatch.setattr(shift.provenance, "for_run", lambda preset: _record())


def _fake_pipeline(calls, world="w1"):
    def run(cfg, quiet=True):
        calls.append((cfg.method, cfg.arch, cfg.sae_seed, cfg.seed))
        pool, prof = _pool()
        label = f"{cfg.method} SHIFT" + ("" if cfg.arch == "relu" else f" [{cfg.arch}]")
        rows = [
            _row("Original", prof, 8),
            _row(label, prof, 2 + cfg.sae_seed + cfg.seed),
            _row("Oracle", prof, 1),
        ]
        return {"k": 3, "rows": rows, "test_pool": pool, "provenance": _record(world)}

    return run


def test_plan_crosses_sae_methods_with_archs_and_sae_seeds():
    cells = plan(["gsae", "gendered-words"], ["relu", "topk"], sae_seeds=2, seeds=2)
    sae_cells = [c for c in cells if c.method == "gsae"]
    assert len(sae_cells) == 2 * 2 * 2
    assert [c for c in cells if c.method == "gendered-words"] == [
        Cell("gendered-words", "relu", 0, 0),
        Cell("gendered-words", "relu", 0, 1),
    ]
    assert cells[0].seed == 0 and cells[-1].seed == 1  # whole run seeds first
    assert Cell("gsae", "topk", 1, 0).name == "gsae-topk-sae1-seed0"


def test_comparisons_pair_each_architecture_with_relu_and_its_controls():
    labels = [
        "Original",
        "GSAE SHIFT",
        "SSAE SHIFT",
        "GSAE SHIFT [topk]",
        "SSAE SHIFT [topk]",
        "Gendered-word deletion",
    ]
    pairs = set(comparisons(labels))
    assert ("SSAE SHIFT [topk]", "GSAE SHIFT [topk]") in pairs
    assert ("GSAE SHIFT [topk]", "GSAE SHIFT") in pairs
    assert ("Gendered-word deletion", "SSAE SHIFT [topk]") in pairs
    assert ("GSAE SHIFT [topk]", "Original") in pairs
    assert all(a != b for a, b in pairs)


def test_resume_keeps_cells_and_refuses_other_settings_or_provenance(tmp_path, monkeypatch, capsys):
    import shift.pipeline
    from shift.cli import main

    calls = []
    monkeypatch.setattr(shift.pipeline, "run_pipeline", _fake_pipeline(calls))
    bench = ["bench", "--preset", "micro", "--out", str(tmp_path), "--bootstrap", "200"]
    main([*bench, "--methods", "gsae", "--seeds", "1", "--sae-seeds", "2"])
    assert calls == [("gsae", "relu", 0, 0), ("gsae", "relu", 1, 0)]
    calls.clear()
    main([*bench, "--methods", "gsae", "--seeds", "2", "--sae-seeds", "2"])
    assert calls == [("gsae", "relu", 0, 1), ("gsae", "relu", 1, 1)]
    saved = json.loads((tmp_path / "bench.json").read_text())
    row = saved["summary"]["gsae SHIFT"]
    assert row["n_cells"] == 4
    # wrong: 2 + a + s of 40; mean over the four cells of 1 - wrong/40 (worst group: first group)
    assert row["profession_acc"]["mean"] == pytest.approx(1 - 3 / 40)
    assert row["worst_group_acc"]["mean"] == pytest.approx(1 - 3 / 10)
    assert saved["summary"]["Original"]["n_cells"] == 2  # once per run seed
    diffs = {(d["a"], d["b"]) for d in saved["differences"]}
    assert diffs == set()  # "gsae SHIFT" is not a registry label: no pair is known
    assert "hierarchical bootstrap" in (tmp_path / "bench.md").read_text()
    assert (tmp_path / "bench.png").exists()
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main([*bench, "--methods", "gsae", "--max-k", "7"])
    assert exit_.value.code == 1 and "other settings" in capsys.readouterr().err
    # resuming on another world is refused in one line before anything runs
    import shift.provenance

    monkeypatch.setattr(shift.provenance, "for_run", lambda preset: _record("w2"))
    ran = []
    monkeypatch.setattr(shift.pipeline, "run_pipeline", _fake_pipeline(ran, world="w2"))
    with pytest.raises(SystemExit) as exit_:
        main([*bench, "--methods", "gsae", "--seeds", "3", "--sae-seeds", "2"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert exit_.value.code == 1 and "another world" in err and "model_sha256" in err
    assert ran == [] and len(json.loads((tmp_path / "bench.json").read_text())["cells"]) == 4
    # and so is a run that turns out to differ (here: other code) although the bench expected not
    monkeypatch.setattr(shift.provenance, "for_run", lambda preset: _record())
    other = _fake_pipeline(ran)

    def other_code(cfg, quiet=True):
        result = other(cfg, quiet)
        result["provenance"]["code"]["source_sha256"] = "t"
        return result

    monkeypatch.setattr(shift.pipeline, "run_pipeline", other_code)
    with pytest.raises(SystemExit):
        main([*bench, "--methods", "gsae", "--seeds", "3", "--sae-seeds", "2"])
    assert "another code" in capsys.readouterr().err
    assert len(json.loads((tmp_path / "bench.json").read_text())["cells"]) == 4


def test_bench_json_of_an_older_layout_is_refused(tmp_path, capsys):
    from shift.cli import main

    (tmp_path / "bench.json").write_text(json.dumps({"runs": [], "settings": {}, "cells": []}))
    with pytest.raises(SystemExit):
        main(["bench", "--preset", "micro", "--out", str(tmp_path), "--methods", "gsae"])
    assert "older shift bench" in capsys.readouterr().err


def test_sources_reach_every_run_and_belong_to_the_settings(tmp_path, monkeypatch, capsys):
    """`--sae-folder` and `--professions` are passed to each run and recorded, so a rerun
    without them is refused."""
    import shift.pipeline
    from shift.cli import main

    seen = []
    inner = _fake_pipeline([])

    def run(cfg, quiet=True):
        seen.append((cfg.sources.sae_folder, cfg.sources.professions))
        return inner(cfg, quiet)

    monkeypatch.setattr(shift.pipeline, "run_pipeline", run)
    # The folder is never read (the pipeline is replaced), so the door's look into it is too.
    monkeypatch.setattr("shift.validate.check_run", lambda cfg, preset: None)
    folder = tmp_path / "dictionaries"
    folder.mkdir()
    out = tmp_path / "bench"
    bench = ["bench", "--preset", "micro", "--out", str(out), "--methods", "gsae", "--seeds", "2"]
    bench += ["--bootstrap", "100"]
    main([*bench, "--sae-folder", str(folder), "--professions", "surgeon,psychologist"])
    assert seen == [(str(folder), "surgeon,psychologist")] * 2
    settings = json.loads((out / "bench.json").read_text())["settings"]
    assert (
        settings["sae_folder"] == str(folder) and settings["professions"] == "surgeon,psychologist"
    )
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main(bench)
    assert exit_.value.code == 1 and "other settings" in capsys.readouterr().err


def test_a_cell_claimed_by_another_process_is_skipped(tmp_path, monkeypatch, capsys):
    """Two benches on one --out split the cells: a claimed cell is left to its holder."""
    from filelock import FileLock

    import shift.pipeline
    from shift.cli import main

    calls = []
    monkeypatch.setattr(shift.pipeline, "run_pipeline", _fake_pipeline(calls))
    (tmp_path / ".claims").mkdir(parents=True)
    held = FileLock(str(tmp_path / ".claims" / "gsae-sae0-seed1.lock"))
    held.acquire()
    try:
        main(
            [
                "bench",
                "--preset",
                "micro",
                "--out",
                str(tmp_path),
                "--methods",
                "gsae",
                "--seeds",
                "2",
                "--bootstrap",
                "100",
            ]
        )
    finally:
        held.release()
    assert calls == [("gsae", "relu", 0, 0)]
    assert "being run by another process" in capsys.readouterr().err
    cells = json.loads((tmp_path / "bench.json").read_text())["cells"]
    assert [(c["sae_seed"], c["seed"]) for c in cells] == [(0, 0)]
