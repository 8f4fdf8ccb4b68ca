"""The tiny world: determinism, LM quality vs a unigram baseline, BiB schema, topic mix, CLI."""

from __future__ import annotations

import json
import math
import random
import re
from collections import Counter
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from shift.world import WorldConfig, ensure_world, get_config
from shift.world.bios import make_bio, split_sizes
from shift.world.config import CorpusConfig, ModelConfig, TrainConfig
from shift.world.corpus import topic_fractions
from shift.world.professions import BIB_PROFESSIONS, PROFESSION_BY_NAME, PROFESSION_ID
from ssae.errors import ToolkitError


def _docs(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _weights(model_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(model_dir / "model.safetensors"))


def test_failed_job_beside_the_lm_is_one_line(tmp_path, capsys):
    """A failing job says so in one line and exits 1; the build it ran beside goes on."""
    from shift.world.build import WorldPaths, _run_beside

    def broken(paths):
        raise OSError(f"cannot read {paths.corpus.name}")

    torch_threads = torch.get_num_threads()
    try:
        with pytest.raises(SystemExit) as exit_:
            _run_beside(broken, WorldPaths.at(tmp_path))
    finally:
        torch.set_num_threads(torch_threads)
    assert exit_.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "cannot read corpus.jsonl" in err and "left to later" in err


def test_heldout_ce_clearly_below_unigram(micro_world):
    """Recompute both cross-entropies from the saved files, by their textbook definitions.

    A model that learned nothing sits near log V (6.9 nats for V = 1024), one that learned only
    token frequencies near the unigram CE; being >= 0.3 nats/token below the unigram needs the
    model to use context, which the templated text rewards a lot (the measured gap is > 2 nats).
    """
    from ssae.models import load_model

    lm = load_model(str(micro_world.model))
    tok = lm.tokenizer
    ctx = get_config("micro").model.ctx_len
    train_ids = tok([d["text"] for d in _docs(micro_world.corpus)], add_special_tokens=False)[
        "input_ids"
    ]
    held = tok([d["text"] for d in _docs(micro_world.heldout)], add_special_tokens=False)[
        "input_ids"
    ]
    counts = Counter(t for d in train_ids for t in d)
    n, v = sum(counts.values()), len(tok)
    uni_nll, model_nll, n_targets = 0.0, 0.0, 0
    with torch.no_grad():
        for d in held:
            d = d[:ctx]
            uni_nll -= sum(math.log((counts[t] + 1) / (n + v)) for t in d[1:])
            logits = lm.model(input_ids=torch.tensor([d])).logits[0, :-1]
            model_nll += torch.nn.functional.cross_entropy(
                logits, torch.tensor(d[1:]), reduction="sum"
            ).item()
            n_targets += len(d) - 1
    uni, model = uni_nll / n_targets, model_nll / n_targets
    ev = micro_world.read_manifest()["eval"]
    assert ev["unigram_ce"] == pytest.approx(uni, abs=1e-3)
    assert ev["model_ce"] == pytest.approx(model, abs=1e-3)
    assert model <= uni - 0.3
    assert lm.n_layers == 6 and lm.model.config.use_parallel_residual
    assert lm.model.config.rope_parameters["partial_rotary_factor"] == 0.25


def test_bib_parquet_schema_and_groups(micro_world):
    import datasets

    ds = datasets.load_dataset("parquet", data_files=micro_world.bib_files())
    want = split_sizes(get_config("micro").bib)
    for split in ("train", "dev", "test"):
        d = ds[split]
        assert d.features["hard_text"].dtype == "string"
        assert d.features["profession"].dtype == "int64"
        assert d.features["gender"].dtype == "int64"
        got = Counter(zip(d["profession"], d["gender"]))
        for name, (n_male, n_female) in want[split].items():
            assert got[(PROFESSION_ID[name], 0)] == n_male
            assert got[(PROFESSION_ID[name], 1)] == n_female
        assert sum(got.values()) == len(d) == sum(m + f for m, f in want[split].values())
        assert all(t.strip() for t in d["hard_text"])
    # The SHIFT pair professions keep every profession x gender group usable.
    cfg = get_config("micro").bib
    for k, split in enumerate(("train", "dev", "test")):
        for name in ("professor", "nurse", "surgeon", "psychologist", "attorney", "teacher"):
            assert min(want[split][name]) >= cfg.min_group[k]
    assert BIB_PROFESSIONS[21] == "professor" and BIB_PROFESSIONS[13] == "nurse"


def test_bib_profession_and_gender_are_learnable(micro_world):
    """Bag-of-words logistic regression on hard_text: profession from vocabulary, gender from cues."""
    import pandas as pd
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    tr = pd.read_parquet(micro_world.bib / "train.parquet")
    te = pd.read_parquet(micro_world.bib / "test.parquet")
    pair = [PROFESSION_ID["professor"], PROFESSION_ID["nurse"]]
    tr, te = tr[tr.profession.isin(pair)], te[te.profession.isin(pair)]
    vec = CountVectorizer().fit(tr.hard_text)
    for label in ("profession", "gender"):
        clf = LogisticRegression(max_iter=2000).fit(vec.transform(tr.hard_text), tr[label])
        assert clf.score(vec.transform(te.hard_text), te[label]) > 0.85, label
    # hard_text drops the first sentence, so the title word is in a biography only when it
    # reappears later: never in the micro world's (calibrated without it), now and then in tiny's.
    assert not te[te.profession == pair[1]].hard_text.str.contains(r"\bnurse\b").any()
    nurse = PROFESSION_BY_NAME["nurse"]
    rng = random.Random(0)
    bios = [make_bio(rng, nurse, 1, get_config("tiny").bib, 0.0) for _ in range(400)]
    title = re.compile(r"\bnurse\b")
    assert all(title.search(b.text.removesuffix(b.hard_text)) for b in bios)
    assert 0.05 < sum(bool(title.search(b.hard_text)) for b in bios) / len(bios) < 0.6


def test_corpus_topic_fractions_match_config(micro_world):
    cfg = get_config("micro")
    docs = _docs(micro_world.corpus)
    assert [d["id"] for d in docs] == list(range(cfg.corpus.n_docs))
    counts = Counter(d["topic"] for d in docs)
    for topic, frac in topic_fractions(cfg).items():
        # Counts are allocated exactly, so they are off from n * fraction only by rounding.
        assert abs(counts[topic] - frac * len(docs)) <= 1, topic
    assert counts["biography"] == counts["physics"] == counts["toxic"] == 30
    held = _docs(micro_world.heldout)
    assert not {d["text"] for d in held} & {d["text"] for d in docs}
    assert min(Counter(d["topic"] for d in held).values()) >= cfg.corpus.heldout_min_per_topic
    m = micro_world.read_manifest()
    for topic in ("physics", "toxic", "biography"):
        # Tail concepts: each in only a small fraction of its subdomain's documents.
        tails = m["tail_concepts"][topic]
        assert tails and max(tails.values()) <= 0.25 * counts[topic]


def test_tokenizer_round_trips_and_pads_like_pythia(micro_world):
    from ssae.models import load_tokenizer

    tok = load_tokenizer(micro_world.model)
    texts = [d["text"] for d in _docs(micro_world.heldout)[:50]]
    texts += ["naïve café: 3.14 ≠ π, emoji 😀, tabs\tand\nnewlines", "  leading spaces"]
    for t in texts:
        assert tok.decode(tok(t, add_special_tokens=False)["input_ids"]) == t
    assert tok.eos_token == tok.pad_token == "<|endoftext|>"
    assert tok.eos_token_id == tok.pad_token_id == 0
    assert tok.padding_side == "right"
    batch = tok(["a b c d e", "a"], padding=True, return_tensors="pt")
    assert batch["attention_mask"][1].tolist()[-1] == 0 and batch["input_ids"][1, -1] == 0
    assert len(tok) == get_config("micro").model.vocab_size


def test_cli_info_and_unbuilt_world(micro_world, shift_home, tmp_path):
    from click.testing import CliRunner

    from shift.commands.world import world

    runner = CliRunner()
    res = runner.invoke(world, ["info", "--preset", "micro", "--out", str(shift_home)])
    assert res.exit_code == 0, res.output
    ce = micro_world.read_manifest()["eval"]
    assert f"model {ce['model_ce']:.3f} vs unigram {ce['unigram_ce']:.3f}" in res.output
    assert "biography 30 docs" in res.output and "vocabulary 1024" in res.output
    res = runner.invoke(world, ["info", "--preset", "micro", "--out", str(tmp_path)])
    assert res.exit_code == 0 and "shift world build --preset micro" in res.output
    for args in (["--help"], ["build", "--help"], ["info", "--help"]):
        assert runner.invoke(world, args).exit_code == 0


def test_unknown_preset_and_bad_config():
    with pytest.raises(ToolkitError, match="unknown world preset"):
        ensure_world("huge")
    with pytest.raises(ValueError):
        CorpusConfig(n_docs=0)
    with pytest.raises(ValueError):
        ModelConfig(hidden_size=100, num_heads=3)
    with pytest.raises(ValueError):
        TrainConfig(warmup_frac=1.0)
    with pytest.raises(ValueError):
        WorldConfig(preset="")


def test_failed_build_leaves_nothing(tmp_path, monkeypatch):
    import shift.world.build as build

    def boom(cfg, seed, paths, while_training=None):
        (paths.root / "corpus.jsonl").write_text("half")
        raise RuntimeError("killed")

    monkeypatch.setattr(build, "build_world", boom)
    with pytest.raises(RuntimeError):
        ensure_world("micro", home=tmp_path)
    worlds = tmp_path / "worlds"
    assert [p.name for p in worlds.iterdir() if not p.name.endswith(".lock")] == []
