"""`shift bench` aggregation: mean and sample std over seeds, baselines counted once per seed."""

from __future__ import annotations

import pytest

from shift.commands.bench import markdown, summarize


def _row(method, seed, worst, prof=0.9, gender=0.5, method_key="gsae"):
    return {
        "method_key": method_key,
        "seed": seed,
        "method": method,
        "worst_group_acc": worst,
        "profession_acc": prof,
        "gender_acc": gender,
    }


def test_mean_and_std_over_seeds():
    runs = [
        _row("Original", 0, 0.2),
        _row("GSAE SHIFT", 0, 0.6),
        _row("Oracle", 0, 0.9),
        _row("Original", 0, 0.2, method_key="ssae"),
        _row("SSAE SHIFT", 0, 0.7, method_key="ssae"),
        _row("Original", 1, 0.4),
        _row("GSAE SHIFT", 1, 0.8),
        _row("Oracle", 1, 0.9),
        _row("Original", 1, 0.4, method_key="ssae"),
        _row("SSAE SHIFT", 1, 0.9, method_key="ssae"),
    ]
    table = {r["method"]: r for r in summarize(runs)}
    assert list(table) == ["Original", "GSAE SHIFT", "SSAE SHIFT", "Oracle"]
    assert table["Original"]["n"] == 2  # shared by both methods, counted once per seed
    assert table["Original"]["worst_group_acc"] == pytest.approx(0.3)
    # sample std of (0.6, 0.8) = sqrt(((0.1)^2 + (0.1)^2) / 1)
    assert table["GSAE SHIFT"]["worst_group_acc_std"] == pytest.approx(0.1 * 2**0.5)
    assert table["Oracle"]["worst_group_acc_std"] == 0.0
    md = markdown(list(table.values()), 2)
    assert "| GSAE SHIFT | 70.0 +- 14.1 |" in md


def test_interval_and_scr_match_their_definitions():
    """95% interval: mean +- t(0.975, n-1) s / sqrt(n); SCR per seed:
    (A - A_original) / (A_oracle - A_original), seeds with A_oracle <= A_original left out."""
    worst = {0: (0.2, 0.6, 0.9), 1: (0.4, 0.8, 0.9), 2: (0.3, 0.5, 0.8), 3: (0.5, 0.9, 0.5)}
    runs = []
    for seed, (orig, shift, oracle) in worst.items():
        runs += [
            _row("Original", seed, orig),
            _row("GSAE SHIFT", seed, shift),
            _row("Oracle", seed, oracle),
        ]
    table = {r["method"]: r for r in summarize(runs)}
    vals = [0.6, 0.8, 0.5, 0.9]
    mean = sum(vals) / 4
    s = (sum((v - mean) ** 2 for v in vals) / 3) ** 0.5
    half = 3.182446305284263 * s / 2  # t(0.975, 3) from tables
    lo, hi = table["GSAE SHIFT"]["worst_group_acc_ci95"]
    assert (lo, hi) == (pytest.approx(mean - half), pytest.approx(mean + half))
    scr = [(0.6 - 0.2) / 0.7, (0.8 - 0.4) / 0.5, (0.5 - 0.3) / 0.5]  # seed 3: Oracle <= Original
    assert table["GSAE SHIFT"]["scr_worst"] == pytest.approx(sum(scr) / 3)
    assert "scr_worst" not in table["Original"] and "scr_worst" not in table["Oracle"]
    # profession is 0.9 for every row: the Oracle never beats the Original, so no SCR
    assert "scr_prof" not in table["GSAE SHIFT"]
    md = markdown(list(table.values()), 4)
    assert f"{sum(scr) / 3:.2f}" in md and "SCR worst" in md


def test_rerun_keeps_finished_runs_and_refuses_other_settings(tmp_path, monkeypatch, capsys):
    """A bench rerun into the same --out runs only the (method, seed) pairs bench.json lacks."""
    import json

    import shift.pipeline
    from shift.cli import main

    calls = []

    def fake_pipeline(cfg, quiet=True):
        calls.append((cfg.method, cfg.seed))
        shifted = _row(f"{cfg.method} SHIFT", cfg.seed, 0.5 + 0.1 * cfg.seed)
        rows = [_row("Original", cfg.seed, 0.2), shifted, _row("Oracle", cfg.seed, 0.9)]
        return {"k": 3, "rows": [{k: v for k, v in r.items() if k != "method_key"} for r in rows]}

    monkeypatch.setattr(shift.pipeline, "run_pipeline", fake_pipeline)
    bench = ["bench", "--preset", "micro", "--out", str(tmp_path)]
    main([*bench, "--methods", "gsae", "--seeds", "2"])
    assert calls == [("gsae", 0), ("gsae", 1)]
    calls.clear()
    main([*bench, "--saes", "gsae,ssae", "--seeds", "3"])
    assert calls == [("ssae", 0), ("ssae", 1), ("gsae", 2), ("ssae", 2)]
    table = {r["method"]: r for r in json.loads((tmp_path / "bench.json").read_text())["table"]}
    assert table["gsae SHIFT"]["n"] == 3
    assert table["gsae SHIFT"]["worst_group_acc"] == pytest.approx(0.6)
    # Runs merged in from another --out (two benches on two cores): a rerun with nothing left to
    # run rewrites the table and its Markdown from bench.json.
    saved = json.loads((tmp_path / "bench.json").read_text())
    saved["runs"] += [r | {"seed": 3} for r in saved["runs"] if r["seed"] == 2]
    (tmp_path / "bench.json").write_text(json.dumps(saved))
    calls.clear()
    main([*bench, "--methods", "gsae,ssae", "--seeds", "4"])
    assert calls == []
    table = {r["method"]: r for r in json.loads((tmp_path / "bench.json").read_text())["table"]}
    assert table["ssae SHIFT"]["n"] == 4
    assert "| 4 |" in (tmp_path / "bench.md").read_text()
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main([*bench, "--methods", "gsae", "--max-k", "7"])
    assert exit_.value.code == 1 and "other settings" in capsys.readouterr().err


def test_sources_reach_every_run_and_belong_to_the_settings(tmp_path, monkeypatch, capsys):
    """`--sae-folder` and `--professions` are passed to each run (a bench of one's own
    dictionaries, or another profession pair) and recorded, so a rerun without them is refused."""
    import json

    import shift.pipeline
    from shift.cli import main

    seen = []

    def fake_pipeline(cfg, quiet=True):
        seen.append((cfg.sources.sae_folder, cfg.sources.professions))
        rows = [_row("Original", cfg.seed, 0.2), _row("Oracle", cfg.seed, 0.9)]
        return {"k": 3, "rows": [{k: v for k, v in r.items() if k != "method_key"} for r in rows]}

    monkeypatch.setattr(shift.pipeline, "run_pipeline", fake_pipeline)
    folder = tmp_path / "dictionaries"
    folder.mkdir()
    out = tmp_path / "bench"
    bench = ["bench", "--preset", "micro", "--out", str(out), "--methods", "gsae", "--seeds", "2"]
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


def test_a_bench_written_before_the_renames_resumes(tmp_path, monkeypatch):
    """bench.json files whose runs say `variant` and whose settings say `saes` (before `--methods`
    and `--sae-folder`) resume: their finished runs are kept, not run again."""
    import json

    import shift.pipeline
    from shift.cli import main

    calls = []

    def fake_pipeline(cfg, quiet=True):
        calls.append((cfg.method, cfg.seed))
        rows = [_row("Original", cfg.seed, 0.2), _row("Oracle", cfg.seed, 0.9)]
        return {"k": 3, "rows": [{k: v for k, v in r.items() if k != "method_key"} for r in rows]}

    monkeypatch.setattr(shift.pipeline, "run_pipeline", fake_pipeline)
    folder = tmp_path / "dictionaries"
    folder.mkdir()
    out = tmp_path / "bench"
    bench = ["bench", "--preset", "micro", "--out", str(out), "--sae-folder", str(folder)]
    main([*bench, "--methods", "gsae", "--seeds", "1"])
    saved = json.loads((out / "bench.json").read_text())
    saved["settings"]["saes"] = saved["settings"].pop("sae_folder")
    for run in saved["runs"]:
        run["variant"] = run.pop("method_key")
    (out / "bench.json").write_text(json.dumps(saved))
    calls.clear()
    main([*bench, "--methods", "gsae", "--seeds", "2"])
    assert calls == [("gsae", 1)]
    runs = json.loads((out / "bench.json").read_text())["runs"]
    assert {r["method_key"] for r in runs} == {"gsae"} and all("variant" not in r for r in runs)
