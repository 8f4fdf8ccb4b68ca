"""Integration on the micro world: general SAEs, specialised by ERM and TERM, evaluated on bios."""

from __future__ import annotations

import json

import pytest

from ssae.evaluate import evaluate_saes
from ssae.models import load_model
from ssae.tokens import TokenDataset
from ssae.train import FinetuneConfig, TrainConfig, finetune_saes, train_saes

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]


def test_gsae_to_ssae_on_micro_world(micro_world, tmp_path):
    lm = load_model(micro_world.model)
    docs = [json.loads(line) for line in micro_world.corpus.read_text().splitlines()]
    general = TokenDataset.from_texts([d["text"] for d in docs], lm.tokenizer, ctx_len=64)
    bios = [d["text"] for d in docs if d["topic"] == "biography"]
    assert len(bios) >= 10
    bio_tokens = TokenDataset.from_texts(bios, lm.tokenizer, ctx_len=64)

    cfg = TrainConfig(expansion=4, n_tokens=30_000, batch_docs=16, progress=False)
    gsae = train_saes(lm, general, cfg, tmp_path / "gsae")
    assert len(gsae) == 1 + 3 * lm.n_layers
    before = evaluate_saes(lm, gsae, bio_tokens, progress=False)

    ft = dict(lr=1e-3, n_tokens=6_000, batch_docs=8, progress=False)
    ssae = finetune_saes(lm, gsae, bio_tokens, FinetuneConfig(**ft), tmp_path / "ssae")
    term = finetune_saes(lm, gsae, bio_tokens, FinetuneConfig(tilt=1e9, **ft), tmp_path / "term")
    after = evaluate_saes(lm, ssae, bio_tokens, progress=False, out=tmp_path / "eval.json")
    after_term = evaluate_saes(lm, term, bio_tokens, spliced=False, progress=False)

    assert after["mean"]["fvu"] < before["mean"]["fvu"]
    assert after_term["mean"]["fvu"] < before["mean"]["fvu"] * 1.5  # finite, sane
    assert after["clean_ce"] == pytest.approx(before["clean_ce"])
    for row in after["submodules"].values():
        assert 0 < row["l0"] < row["dict_size"] and row["ce_zero"] >= after["clean_ce"] - 0.5
    small = ssae.slice(32)
    sliced = evaluate_saes(lm, small, bio_tokens, spliced=False, progress=False)
    assert all(r["dict_size"] == 32 for r in sliced["submodules"].values())
