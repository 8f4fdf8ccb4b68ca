"""`shift probe` end to end on the paper path: Pythia-70M-shaped model + a LabHC-schema parquet."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shift.cli import main

PLACES = ["the clinic", "a college", "the city", "home"]
# Every fourth biography is longer than 128 Pythia tokens: the paper preset reads it whole.
LONG_TAIL = " Outside of work, they enjoy hiking with friends and reading old novels." * 12


def bios(split, counts):
    rows = []
    for (p, g), n in counts.items():
        who, job = ("She" if g else "He"), ("nurse" if p == 13 else "professor")
        rows += [
            {
                "hard_text": f"{who} is a {job} in {PLACES[i % 4]} ({split} {i})."
                + (LONG_TAIL if i % 4 == 3 else ""),
                "profession": p,
                "gender": g,
            }
            for i in range(n)
        ]
    return rows


@pytest.fixture
def bib_dir(tmp_path):
    d = tmp_path / "labhc"
    d.mkdir()
    train = {(21, 0): 10, (21, 1): 4, (13, 0): 4, (13, 1): 10, (2, 0): 3}
    test = {(21, 0): 4, (21, 1): 4, (13, 0): 4, (13, 1): 4}
    for name, counts in (("train", train), ("dev", test), ("test", test)):
        pq.write_table(pa.Table.from_pylist(bios(name, counts)), d / f"{name}.parquet")
    return d


@pytest.mark.slow
def test_paper_path_end_to_end(pythia70m_dir, bib_dir, tmp_path, shift_home, capsys):
    out = tmp_path / "out"
    main(
        [
            "probe",
            "--dataset",
            "bib",
            "--preset",
            "paper",
            "--model",
            str(pythia70m_dir),
            "--bib-path",
            str(bib_dir),
            "--professions",
            "professor,nurse",
            "--device",
            "cpu",
            "--out",
            str(out),
        ]
    )
    printed = capsys.readouterr().out
    assert "Original" in printed and "Oracle" in printed and "results.json" in printed
    res = json.loads((out / "results.json").read_text())
    assert [r["method"] for r in res["rows"]] == ["Original", "CBP", "Oracle"]
    assert res["submodule"] == "resid_out_layer4" and res["professions"] == ["professor", "nurse"]
    assert res["max_length"] is None  # the reference pads without truncating
    assert res["sizes"]["train"]["ambiguous"] == 20 and res["sizes"]["train"]["balanced"] == 16
    assert len(res["cbp_concepts"]) == 20 and res["cbp_dropped"] == []
    for r in res["rows"]:
        for c in ("profession_acc", "gender_acc", "worst_group_acc", "ambiguous_acc"):
            assert 0.0 <= r[c] <= 1.0
        assert r["worst_group_acc"] == min(r["group_acc"].values())

    # the saved Original probe and the whole-text activations reproduce its row
    from probes.activations import pooled_activations
    from probes.metrics import evaluate_predictions
    from probes.probe import load_probe
    from shift.data.bib import load_bib
    from ssae.models import load_model

    lm = load_model(pythia70m_dir)
    test = load_bib(bib_dir, splits=["test"])["test"]
    assert max(len(lm.tokenizer(t)["input_ids"]) for t in test.texts) > 128
    acts = pooled_activations(lm, test.texts, "resid_out_layer4", max_length=None, progress=False)
    probe = load_probe(out / "probes" / "original.safetensors")
    groups = {test.group_name(k): v for k, v in test.groups.items()}
    m = evaluate_predictions(
        "Original",
        probe.predict(acts),
        test.profession,
        test.gender,
        test.balanced,
        test.ambiguous,
        groups,
    )
    assert m.row() == res["rows"][0]


def run_error(argv, capsys) -> str:
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("Error: ")
    return err


def test_errors_are_one_line(bib_dir, tmp_path, shift_home, capsys):
    out = str(tmp_path / "o")
    assert "unknown dataset 'imdb'" in run_error(
        ["probe", "--dataset", "imdb", "--out", out], capsys
    )
    err = run_error(
        ["probe", "--bib-path", str(bib_dir), "--professions", "professor,wizard", "--out", out],
        capsys,
    )
    assert "unknown profession 'wizard'" in err
    # The data is read before the model: a folder that holds no model is never opened.
    (tmp_path / "nomodel").mkdir()
    err = run_error(
        [
            "probe",
            "--bib-path",
            str(bib_dir),
            "--professions",
            "professor,surgeon",
            "--model",
            str(tmp_path / "nomodel"),
            "--out",
            out,
        ],
        capsys,
    )
    assert "no male surgeon examples" in err or "no female surgeon examples" in err
    err = run_error(["probe", "--model", str(tmp_path / "gone"), "--out", out], capsys)
    assert f"--model {tmp_path / 'gone'}: no such file or folder" in err
    err = run_error(["probe", "--preset", "huge", "--out", out], capsys)
    assert "unknown preset 'huge'" in err


def test_tiny_path_on_the_micro_world(micro_world, tmp_path, monkeypatch):
    """The tiny preset's code path (paths resolved from a world) on the small `micro` world."""
    from shift import presets
    from shift.baselines import run_baselines
    from shift.presets import get_preset

    monkeypatch.setattr(presets, "_world", lambda name, job=None, verify=False: micro_world)
    from probes.config import ProbeConfig

    run = run_baselines(
        get_preset("tiny"),
        tmp_path / "out",
        max_per_group=24,
        progress=False,
        probe_config=ProbeConfig(min_steps=20),
    )
    assert run.submodule == f"resid_out_layer{run.lm.n_layers - 2}"
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert res["model"] == str(micro_world.model) and res["bib"] == str(micro_world.bib)
    assert [r["method"] for r in res["rows"]] == ["Original", "CBP", "Oracle"]
    for split in ("train", "test"):
        sizes = res["sizes"][split]
        groups = [v for k, v in sizes.items() if "/" in k]
        assert sizes["balanced"] == 4 * min(groups)
        assert sizes["ambiguous"] == 2 * min(sizes["professor/male"], sizes["nurse/female"])
