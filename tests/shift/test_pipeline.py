"""`shift run` end to end on the micro world: every stage, the report, resuming, bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from shift.cli import main
from shift.pipeline import RunConfig, run_pipeline
from ssae.errors import ToolkitError

# Small enough for CI (the micro world is built once per session by the fixture).
FAST = dict(preset="micro", max_k=20, circuit_examples=32, ig_steps=4)


@pytest.fixture(scope="module")
def ssae_run(micro_world, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    return out, run_pipeline(RunConfig.from_options(method="ssae", out=out, **FAST), quiet=True)


def test_report_has_every_row_and_artifact(ssae_run):
    out, result = ssae_run
    methods = [r["method"] for r in result["rows"]]
    assert methods == ["Original", "CBP", "SSAE SHIFT", "SSAE SHIFT + retrain", "Oracle"]
    for r in result["rows"]:
        for key in ("profession_acc", "gender_acc", "worst_group_acc"):
            assert 0.0 <= r[key] <= 1.0
        assert r["worst_group_acc"] <= r["profession_acc"] + 1e-9 or r["method"] == "CBP"
    saved = json.loads((out / "results.json").read_text())
    assert [r["method"] for r in saved["rows"]] == methods
    assert 1 <= saved["k"] <= FAST["max_k"] and len(saved["features"]) == saved["k"]
    stages = {"probes", "gsae", "retrieve", "ssae", "gender-effects", "circuit", "skyline"}
    assert set(saved["timings_s"]) >= stages and set(saved["peak_rss_mib"]) >= stages
    assert saved["config"]["method"] == "ssae" and saved["sae_eval"]["saes"]["submodules"]
    assert (
        saved["sae_eval"]["gsae"]["submodules"].keys()
        == saved["sae_eval"]["saes"]["submodules"].keys()
    )
    md = (out / "results.md").read_text()
    assert "| SSAE SHIFT |" in md and "circuit.svg" in md
    # The circuit's split between features and error nodes, as `circuits.graph` counts it.
    kinds = [a["kind"] for a in json.loads((out / "circuit.json").read_text())["nodes"]]
    summary = saved["circuit_summary"]
    assert summary["features"]["nodes"] == kinds.count("feature") > 0
    assert summary["errors"]["nodes"] == kinds.count("error")
    assert summary["features"]["share"] + summary["errors"]["share"] == pytest.approx(1.0)
    assert "Feature nodes carry" in md
    svg = (out / "circuit.svg").read_text()
    assert "<svg" in svg and "probe" in svg
    assert (out / "circuit.png").stat().st_size > 1000 and (out / "skyline.png").exists()


def test_report_writes_the_circuit_explorer(ssae_run, browser, tmp_path):
    """`circuit.html` beside `circuit.svg` (issue 30): in headless Chromium, from file://, it
    draws every node of `circuit.json`, rings the features the edit ablated, and a click on a
    feature shows its card with at least 8 top-activating contexts from the feature-contexts
    stage; an error node's card gives its SAE's FVU."""
    from circuits.graph import load_graph
    from tests.browser import click_node, drawn_points, open_view

    out, _ = ssae_run
    saved = json.loads((out / "results.json").read_text())
    graph = load_graph(out / "circuit.json")
    assert "feature-contexts" in saved["stage_keys"] and "feature-contexts" in saved["timings_s"]
    assert graph.graph["ablated"] == saved["features"]
    assert graph.graph["ablation_note"].startswith("SSAE SHIFT: the top ")
    assert "circuit.html" in (out / "results.md").read_text()
    page = open_view(browser, out / "circuit.html")
    assert drawn_points(page) == graph.number_of_nodes()
    assert drawn_points(page, "overlay") == sum(1 for f in saved["features"] if f in graph)
    features = [n for n, a in graph.nodes(data=True) if a["kind"] == "feature"]
    feature = max(features, key=lambda n: abs(graph.nodes[n]["effect"]))
    assert len(graph.nodes[feature]["contexts"]) >= 8
    click_node(page, feature)
    assert page.locator("#card li.context").count() >= 8
    assert page.locator("#card li.context mark").count() >= 8
    error = max(
        (n for n, a in graph.nodes(data=True) if a["kind"] == "error"),
        key=lambda n: abs(graph.nodes[n]["effect"]),
    )
    assert 0 < graph.nodes[error]["fvu"] < 1
    page.evaluate("(id) => window.circuitView.select(window.circuitView.nodeIndex(id))", error)
    assert "FVU of its SAE" in page.locator("#card").inner_text()
    page.screenshot(path=str(tmp_path / "run.png"))
    assert (tmp_path / "run.png").stat().st_size > 10_000 and page.errors == []
    page.close()


def test_a_second_circuit_on_the_same_saes_reuses_the_feature_contexts(ssae_run, monkeypatch):
    """Another circuit on the same SAEs (other thresholds, other examples) finds the cards' data
    cached: the stage's key names the dictionaries and the data, not the circuit."""
    import circuits.feature_contexts
    from shift.stages import RunContext, run_dictionaries, run_feature_contexts

    out, _ = ssae_run
    first = json.loads((out / "results.json").read_text())["stage_keys"]["feature-contexts"]
    monkeypatch.setattr(circuits.feature_contexts, "compute_feature_contexts", None)  # no pass
    options = {**FAST, "circuit_examples": 16}
    cfg = RunConfig.from_options(method="ssae", node_threshold=0.06, edge_threshold=0.01, **options)
    ctx = RunContext.open(cfg, quiet=True)
    again = run_feature_contexts(ctx, run_dictionaries(ctx).edited)
    assert again.key == first and ctx.runner.cached[-1] == "feature-contexts"


def test_run_without_the_circuit_graph_gives_the_same_rows(ssae_run, tmp_path):
    """`--no-circuit-graph` (what `shift bench` runs) leaves out the report's circuit only: the
    skyline reads the gender effects, which are their own stage."""
    _, result = ssae_run
    cfg = RunConfig.from_options(method="ssae", out=tmp_path / "g", circuit_graph=False, **FAST)
    again = run_pipeline(cfg, quiet=True)
    assert again["rows"] == result["rows"] and "circuit" not in again["timings"]
    assert "feature-contexts" not in again["timings"] and not (cfg.out / "circuit.html").exists()
    assert not (cfg.out / "circuit.svg").exists() and (cfg.out / "skyline.png").exists()


def test_original_probe_leans_on_gender_and_oracle_reads_profession(ssae_run):
    """The micro world carries the phenomenon SHIFT exists for (issue 11, item 6): the Original
    probe, trained where profession and gender coincide, reads gender on the balanced test set far
    more than profession; the Oracle, trained on the balanced set, reads profession and not
    gender. 160 test examples: one standard error of an accuracy is at most 0.04."""
    _, result = ssae_run
    rows = {r["method"]: r for r in result["rows"]}
    orig, oracle = rows["Original"], rows["Oracle"]
    assert orig["gender_acc"] >= orig["profession_acc"] + 0.15
    assert orig["worst_group_acc"] <= 0.45
    assert oracle["profession_acc"] >= orig["profession_acc"] + 0.10
    assert abs(oracle["gender_acc"] - 0.5) <= 0.10


def test_ablating_top_gender_features_moves_gender_towards_chance(ssae_run):
    """Ablating the features with the largest effect on gender takes the Original probe's gender
    accuracy to chance: at the skyline's largest k (balanced dev set, 160 examples) it is within
    0.1 of 50%, and the chosen edit (best dev profession accuracy) is closer to 50% on the test
    set than the unedited probe, without losing profession accuracy beyond noise."""
    from ssae.io import shift_home

    out, result = ssae_run
    rows = {r["method"]: r for r in result["rows"]}
    orig, edited = rows["Original"], rows["SSAE SHIFT"]
    keys = json.loads((out / "results.json").read_text())["stage_keys"]
    selection = shift_home() / "stages" / "skyline" / keys["skyline"] / "selection.json"
    sweep = json.loads(selection.read_text())["sweep"]
    assert [p["k"] for p in sweep] == list(range(1, FAST["max_k"] + 1))
    assert abs(sweep[-1]["gender_acc"] - 0.5) <= 0.10 < abs(orig["gender_acc"] - 0.5) - 0.15
    assert abs(edited["gender_acc"] - 0.5) < abs(orig["gender_acc"] - 0.5)
    assert edited["profession_acc"] >= orig["profession_acc"] - 0.05


def test_killed_run_resumes_without_redoing_finished_stages(ssae_run, tmp_path, monkeypatch):
    """A run that dies in the skyline stage keeps every finished stage: the rerun skips them."""
    import shift.skyline

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    cfg = RunConfig.from_options(method="ssae", out=tmp_path / "a", **{**FAST, "max_k": 7})
    monkeypatch.setattr(shift.skyline, "sweep", boom)
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(cfg, quiet=True)
    monkeypatch.undo()
    result = run_pipeline(cfg, quiet=True)
    assert set(result["cached"]) >= {"probes", "gsae", "retrieve", "ssae", "gender-effects"}
    assert "skyline" not in result["cached"]
    again = run_pipeline(cfg, quiet=True)
    assert set(again["cached"]) >= {"probes", "gsae", "circuit", "skyline", "shift"}
    assert again["rows"] == result["rows"]


def test_corrupt_cache_is_recomputed_with_a_warning(ssae_run, capfd):
    """A garbage probes/rows.json (a JSONDecodeError traceback before issue 14): the rerun notices
    it by the stage's manifest, recomputes that stage alone, bit for bit, and reports the
    uncorrupted results with one warning naming the stage. (The cheapest stage to recompute; the
    other artifacts and corruptions are covered on a toy stage in test_cache.py.)"""
    out, result = ssae_run
    keys = json.loads((out / "results.json").read_text())["stage_keys"]
    rows = Path(os.environ["SHIFT_HOME"]) / "stages" / "probes" / keys["probes"] / "rows.json"
    before = rows.read_bytes()
    rows.write_text("garbage")
    capfd.readouterr()
    again = run_pipeline(RunConfig.from_options(method="ssae", out=out, **FAST), quiet=True)
    assert again["rows"] == result["rows"] and again["k"] == result["k"]
    assert "probes" not in again["cached"] and {"ssae", "circuit", "skyline"} <= set(
        again["cached"]
    )
    warnings = [line for line in capfd.readouterr().err.splitlines() if line.startswith("Warning")]
    assert len(warnings) == 1 and "cached stage 'probes' failed verification" in warnings[0]
    assert rows.read_bytes() == before


def test_gsae_and_neuron_variants_share_cached_stages(ssae_run, tmp_path):
    gsae = run_pipeline(
        RunConfig.from_options(method="comp-gsae", out=tmp_path / "g", **FAST), quiet=True
    )
    assert {"probes", "gsae"} <= set(gsae["cached"])
    assert [r["method"] for r in gsae["rows"]][2:4] == [
        "Comp. GSAE SHIFT",
        "Comp. GSAE SHIFT + retrain",
    ]
    neurons = run_pipeline(
        RunConfig.from_options(method="neurons", out=tmp_path / "n", **FAST), quiet=True
    )
    assert [r["method"] for r in neurons["rows"]] == ["Original", "CBP", "Neuron skyline", "Oracle"]


def test_comp_ssae_finetunes_the_sliced_gsae(ssae_run, tmp_path):
    """Comp. SSAE "is initialized with Comp. GSAE before finetuning": its finetuning stage has its
    own key and trains dictionaries that are compress_k wide from the start."""
    from ssae.io import shift_home
    from ssae.sae_set import SAESet

    full_out, _ = ssae_run
    cfg = RunConfig.from_options(method="comp-ssae", out=tmp_path / "c", **FAST)
    result = run_pipeline(cfg, quiet=True)
    assert [r["method"] for r in result["rows"]][2] == "Comp. SSAE SHIFT"
    keys = json.loads((cfg.out / "results.json").read_text())["stage_keys"]
    full_keys = json.loads((full_out / "results.json").read_text())["stage_keys"]
    assert keys["ssae"] != full_keys["ssae"] and keys["retrieve"] == full_keys["retrieve"]
    finetuned = SAESet.load(shift_home() / "stages" / "ssae" / keys["ssae"] / "run")
    assert {d.dict_size for d in finetuned.values()} == {32}  # micro: compress_k of 256
    gsae = SAESet.load(shift_home() / "stages" / "gsae" / keys["gsae"] / "run")
    name = "resid_out_layer2"
    moved = finetuned[name].encoder.weight - gsae[name].encoder.weight[:32]
    assert moved.abs().max() > 0  # finetuned ...
    cos = torch.nn.functional.cosine_similarity(
        finetuned[name].decoder.weight, gsae[name].decoder.weight[:, :32], dim=0
    )
    assert cos.mean() > 0.5  # ... starting from the first 32 GSAE features, feature by feature


def test_neuron_skyline_ranks_by_zero_patch_and_mean_ablates(micro_world, tmp_path):
    """Marks et al.'s neuron skyline: IG towards a zero patch ranks the neurons; the chosen ones
    are mean-ablated (the means are computed with the selection, for the ablation only)."""
    from safetensors.torch import load_file

    from circuits.graph import load_graph
    from ssae.io import shift_home

    cfg = RunConfig.from_options(method="neurons", out=tmp_path / "n", **FAST)
    run_pipeline(cfg, quiet=True)
    assert load_graph(cfg.out / "circuit.json").graph["baseline"] == "zero"
    key = json.loads((cfg.out / "results.json").read_text())["stage_keys"]["skyline"]
    means = load_file(str(shift_home() / "stages" / "skyline" / key / "means.safetensors"))
    assert set(means) >= {"embed", "resid_out_layer3"} and means["embed"].abs().sum() > 0


def test_new_methods_are_rows_of_the_table(ssae_run, tmp_path):
    """Each new method is one registry entry: gendered-word deletion (a probe on biographies
    without pronouns, gendered names and titles) and SAEBench's automatic selection (no circuit)."""
    words = run_pipeline(
        RunConfig.from_options(method="gendered-words", out=tmp_path / "w", **FAST), quiet=True
    )
    labels = [r["method"] for r in words["rows"]]
    assert labels == ["Original", "CBP", "Gendered-word deletion", "Oracle"]
    assert words["k"] is None and {"probes", "baseline"} <= set(words["timings"])
    assert not {"gsae", "gender-effects", "circuit", "skyline"} & set(words["timings"])

    cfg = RunConfig.from_options(method="saebench", out=tmp_path / "s", **FAST)
    auto = run_pipeline(cfg, quiet=True)
    assert [r["method"] for r in auto["rows"]] == [
        "Original",
        "CBP",
        "GSAE SAEBench top-N",
        "GSAE SAEBench top-N + retrain",
        "Oracle",
    ]
    assert "gsae" in auto["cached"] and not {"gender-effects", "circuit"} & set(auto["timings"])
    saved = json.loads((cfg.out / "results.json").read_text())
    assert "circuit" not in saved["stage_keys"] and not (cfg.out / "circuit.svg").exists()
    assert 1 <= saved["k"] <= FAST["max_k"] and (cfg.out / "skyline.png").exists()
    for r in auto["rows"] + words["rows"]:
        assert 0.0 <= r["worst_group_acc"] <= r["profession_acc"] + 1e-9 or r["method"] == "CBP"


@pytest.mark.parametrize("method", ["gsae", "ssae", "comp-gsae", "comp-ssae", "neurons"])
def test_every_methods_gender_effects_stage_runs_on_the_available_device(ssae_run, method):
    """The gender-effects stage of every circuit-ranked method, on CUDA when the machine has it."""
    from safetensors.torch import load_file

    from shift.stages import RunContext, run_dictionaries, run_gender_effects, run_probes

    ctx = RunContext.open(RunConfig.from_options(method=method, **FAST), quiet=True)
    assert ctx.lm.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    dicts = run_dictionaries(ctx)
    effects = load_file(str(run_gender_effects(ctx, dicts.edited, run_probes(ctx)).path))
    width = {"neurons": 64, "comp-gsae": 32, "comp-ssae": 32}.get(method, 256)
    assert effects and set(effects) <= set(ctx.preset.submodule_names)
    assert all(v.shape == (width,) and torch.isfinite(v).all() for v in effects.values())


def test_manual_feature_file(ssae_run, tmp_path):
    good = tmp_path / "features.txt"
    good.write_text("resid_out_layer2/3\n# a comment\nmlp_out_layer1/7\n")
    result = run_pipeline(
        RunConfig.from_options(method="ssae", out=tmp_path / "m", features_file=str(good), **FAST),
        quiet=True,
    )
    assert result["k"] == 2
    bad = tmp_path / "bad.txt"
    bad.write_text("resid_out_layer2/99999\n")
    with pytest.raises(
        ToolkitError, match="resid_out_layer2/99999 does not exist; .* 256 features"
    ):
        run_pipeline(
            RunConfig.from_options(
                method="ssae", out=tmp_path / "b", features_file=str(bad), **FAST
            ),
            quiet=True,
        )


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "--method", "bogus", "--preset", "micro"], "unknown --method 'bogus'"),
        (["run", "--sae", "bogus", "--preset", "micro"], "unknown --method 'bogus'"),
        (["run", "--saes", "dicts", "--preset", "micro"], "--sae-folder dicts"),
        (["run", "--dataset", "imdb", "--preset", "micro"], "unknown dataset 'imdb'"),
        (["run", "--preset", "huge"], "unknown preset 'huge'"),
        (["bench", "--methods", "gsae,nope", "--preset", "micro"], "unknown method(s)"),
        (["bench", "--saes", "gsae,nope", "--preset", "micro"], "unknown method(s)"),
        (["run", "--tilt", "-1", "--preset", "micro"], "--tilt must be a finite number >= 0"),
        (["run", "--preset", "bogus"], "unknown preset 'bogus'"),
        (["run", "--ig-mode", "sideways", "--preset", "micro"], "ig_mode must be one of"),
    ],
)
def test_bad_input_is_one_line(args, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 1
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


def test_paper_preset_offline_names_tiny(monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SystemExit):
        main(["run", "--dataset", "bib", "--method", "ssae"])
    err = capsys.readouterr().err
    assert "--preset tiny" in err and "Traceback" not in err


def test_per_submodule_ig_is_the_default_everywhere():
    """Marks et al.'s estimator (`_pe_ig`) is the default of `shift run`, `shift circuit compute`,
    `compute_circuit` and `EffectConfig`; joint IG is an explicit speed option."""
    import inspect

    from click.testing import CliRunner

    from circuits.circuit import compute_circuit
    from circuits.config import EffectConfig
    from shift.cli import cli

    assert RunConfig().effects.ig_mode == "per_submodule" == EffectConfig().ig_mode
    assert inspect.signature(compute_circuit).parameters["config"].default == EffectConfig()
    for args in (["run", "--help"], ["circuit", "compute", "--help"]):
        text = " ".join(CliRunner().invoke(cli, args).output.split())
        assert "--ig-mode [per_submodule|joint]" in text
        option = text[text.index("--ig-mode") :]
        assert option.index("[default: per_submodule]") < option.index("--", 2)


def test_world_corpus_is_embedded_beside_the_lm_only_when_dense_retrieval_reads_it():
    """The job handed to a world build: for SSAE methods with dense retrieval over the world's own
    corpus; not for GSAE or baseline methods, BM25, or a corpus of the user's."""
    import pickle

    from shift.presets import get_preset
    from shift.stages.context import _while_world_trains

    def job(preset="micro", corpus=None, **options):
        cfg = RunConfig.from_options(preset=preset, **options)
        return _while_world_trains(cfg, get_preset(preset, corpus=corpus))

    ssae = job(method="ssae")
    assert ssae.keywords["config"].embedder == RunConfig(preset="micro").retrieval.embedder
    assert pickle.loads(pickle.dumps(ssae)).func is ssae.func  # it crosses to a spawned process
    assert job(method="comp-ssae") is not None
    assert job(method="gsae") is None and job(method="gendered-words") is None
    assert job(method="ssae", retrieval="bm25") is None
    assert job(method="ssae", corpus="/my/corpus.jsonl") is None
