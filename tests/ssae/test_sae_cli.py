"""`shift sae train | finetune | eval | compress` end to end on a tiny model."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from shift.commands.sae import sae

pytestmark = pytest.mark.usefixtures("one_thread")


def test_help_on_every_command():
    runner = CliRunner()
    res = runner.invoke(sae, ["--help"])
    assert res.exit_code == 0 and "finetune" in res.output
    for cmd in ("train", "finetune", "eval", "compress"):
        res = runner.invoke(sae, [cmd, "--help"])
        assert res.exit_code == 0 and "--model" in res.output and "--out" in res.output, res.output
    res = runner.invoke(sae, ["finetune", "--help"])
    assert "--tokens" in res.output and "--tilt" in res.output and "--data" in res.output


def test_train_finetune_eval_compress(tiny_model_dir, narrow_tokens, tmp_path):
    import random

    rng = random.Random(0)
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        "".join(
            json.dumps(
                {"text": " ".join(f"w{rng.randrange(2, 100)}" for _ in range(rng.randrange(5, 20)))}
            )
            + "\n"
            for _ in range(40)
        )
    )
    data = narrow_tokens.save(tmp_path / "narrow")
    runner = CliRunner()
    model = ["--model", str(tiny_model_dir)]

    res = runner.invoke(
        sae,
        [
            "train",
            *model,
            "--corpus",
            str(corpus),
            "--out",
            str(tmp_path / "g"),
            "--dict-size",
            "48",
            "--tokens",
            "1500",
            "--batch-docs",
            "8",
        ],
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "g" / "resid_out_layer1").is_dir()

    res = runner.invoke(
        sae,
        [
            "finetune",
            *model,
            "--sae-folder",
            str(tmp_path / "g"),
            "--data",
            str(data),
            "--tilt",
            "500",
            "--l1",
            "0.1",
            "--lr",
            "1e-3",
            "--tokens",
            "800",
            "--out",
            str(tmp_path / "s"),
        ],
    )
    assert res.exit_code == 0, res.output
    meta = json.loads((tmp_path / "s" / "sae_set.json").read_text())
    assert meta["config"]["tilt"] == 500 and meta["n_tokens"] >= 800

    res = runner.invoke(
        sae,
        [
            "eval",
            *model,
            "--sae-folder",
            str(tmp_path / "s"),
            "--data",
            str(data),
            "--out",
            str(tmp_path / "e.json"),
        ],
    )
    assert res.exit_code == 0, res.output
    result = json.loads((tmp_path / "e.json").read_text())
    assert set(result["submodules"]) == set(meta["names"]) and "clean_ce" in result

    # The same evaluation on documents instead of a token dataset: `--corpus` is tokenized here.
    res = runner.invoke(
        sae,
        [
            "eval",
            *model,
            "--sae-folder",
            str(tmp_path / "s"),
            "--corpus",
            str(corpus),
            "--no-ce",
            "--out",
            str(tmp_path / "e-corpus.json"),
        ],
    )
    assert res.exit_code == 0, res.output
    on_corpus = json.loads((tmp_path / "e-corpus.json").read_text())
    assert set(on_corpus["submodules"]) == set(meta["names"]) and "clean_ce" not in on_corpus
    assert on_corpus["n_tokens"] != result["n_tokens"]  # read from the corpus, not --data

    res = runner.invoke(
        sae,
        [
            "compress",
            *model,
            "--sae-folder",
            str(tmp_path / "s"),
            "--k",
            "16",
            "--out",
            str(tmp_path / "c"),
        ],
    )
    assert res.exit_code == 0, res.output
    cfg = json.loads(next((tmp_path / "c" / "embed").glob("*/config.json")).read_text())
    assert cfg["trainer"]["dict_size"] == 16


def test_errors_are_one_line(tiny_model_dir, tmp_path, capsys):
    from shift.cli import main

    (tmp_path / "embed" / "r").mkdir(parents=True)
    (tmp_path / "embed" / "r" / "ae.pt").write_bytes(b"garbage")
    with pytest.raises(SystemExit) as e:
        main(
            [
                "sae",
                "compress",
                "--model",
                str(tiny_model_dir),
                "--sae-folder",
                str(tmp_path),
                "--k",
                "4",
                "--out",
                str(tmp_path / "c"),
            ]
        )
    assert e.value.code == 1
    lines = [x for x in capsys.readouterr().err.splitlines() if "Error:" in x]
    assert len(lines) == 1 and str(tmp_path / "embed" / "r" / "ae.pt") in lines[0]
    assert lines[0].split("\r")[-1].startswith("Error: ")


@pytest.mark.parametrize("command", ["finetune", "eval"])
@pytest.mark.parametrize("sources", [(), ("--data", "{d}", "--corpus", "{c}")])
def test_tokens_come_from_exactly_one_of_data_or_corpus(command, sources, tmp_path, capsys):
    """`shift sae finetune|eval` read tokens like `shift sae train`: --data DIR or --corpus FILE,
    one of them, refused in one line before any model is loaded."""
    from shift.cli import main

    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"text": "a b c"}\n')
    (tmp_path / "d").mkdir()
    args = [a.format(d=tmp_path / "d", c=corpus) for a in sources]
    argv = ["sae", command, "--model", "no/such-model", "--sae-folder", str(tmp_path), *args]
    with pytest.raises(SystemExit) as e:
        main([*argv, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert (
        e.value.code == 1
        and err.startswith("Error: pass exactly one of --data")
        and "\n" not in err
    )


@pytest.mark.parametrize("command", ["eval", "finetune"])
def test_token_ids_past_the_models_vocabulary_are_one_line(
    command, tiny_lm, tiny_model_dir, make_tokens, tmp_path, capsys
):
    """A token dataset made for a larger vocabulary would fail as an IndexError inside the
    model's embedding; it is refused, naming the model, before any SAE runs."""
    from shift.cli import main
    from ssae.sae_set import SAESet

    saes = SAESet.new(tiny_lm, dict_size=16, names=["embed"]).save(tmp_path / "saes")
    data = make_tokens(4, 8, low=100, high=200).save(tmp_path / "wide-vocab")
    out = tmp_path / ("r.json" if command == "eval" else "ft")
    argv = ["sae", command, "--model", str(tiny_model_dir), "--sae-folder", str(saes)]
    with pytest.raises(SystemExit) as e:
        main([*argv, "--data", str(data), "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 1 and err[-1].startswith("Error: token dataset has token id"), err
    assert "has a vocabulary of 100; it was tokenized for another model" in err[-1]
    assert not out.exists()
