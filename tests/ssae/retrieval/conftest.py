"""Fixtures for the retrieval tests: a small labelled corpus, a tiny GPTNeoX, and an SAE folder."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

FIRST = ["Anna", "Maria", "John", "Peter", "Laura", "James", "Sofia", "David", "Emma", "Lucas"]
LAST = ["Smith", "Garcia", "Chen", "Novak", "Okafor", "Rossi", "Kim", "Muller", "Silva", "Dubois"]
JOBS = ["professor", "nurse", "surgeon", "attorney", "architect", "journalist", "teacher"]
FIELDS = ["history", "nursing", "chemistry", "law", "economics", "biology", "linguistics"]
PLACES = ["Boston", "Lyon", "Osaka", "Nairobi", "Madrid", "Toronto", "Krakow", "Melbourne"]
BIO = [
    "{f} {l} is a {job} in {p}. {pr} received a degree in {fld} from the university of {p2} and "
    "has worked as a {job} for {n} years. {pr} is known for {pos} work with students.",
    "{pr} is a {job} at a hospital in {p}. Before that, {f} studied {fld} and worked in {p2}. "
    "{pr} has written {n} articles about {fld} and teaches part time.",
    "{f} {l} has been a {job} since {y}. {pr} graduated in {fld} and now lives in {p} with "
    "{pos} family. {pr} enjoys mentoring young colleagues.",
]
PHYS = [
    "The {q} of a particle in a magnetic field changes when the {q2} is measured. Quantum "
    "mechanics predicts an energy of {n} electron volts for this {obj}.",
    "In thermodynamics the entropy of a closed {obj} never decreases. The {q} and the {q2} "
    "obey a conservation law derived from symmetry, as Noether showed.",
    "A laser beam with wavelength {n} nanometers hits the {obj}. The photon {q} is absorbed "
    "and the electron {q2} increases according to the field equations.",
]
GEN = [
    "Add {n} cups of flour to the bowl and stir until the dough is smooth. Bake the {food} in "
    "the oven for {n2} minutes and serve it warm with butter, honey and a cup of tea after "
    "dinner.",
    "The {team} won the match {n} to {n2} on Sunday. Fans celebrated in the streets of {p} "
    "after the final whistle of the season, and the coach thanked the supporters for {pos} "
    "patience.",
    "Rain is expected in {p} on {day}, with temperatures around {n} degrees. The weekend "
    "forecast shows sunshine and a light wind from the west, and the roads to {p2} stay open.",
    "The city council of {p} approved a new budget for roads and parks. The mayor said "
    "construction of the {n} new bridges will start on {day} and finish within {n2} months.",
]
QS = ["momentum", "spin", "energy", "charge", "velocity", "frequency"]
OBJS = ["system", "crystal", "atom", "detector", "plasma"]
FOODS = ["bread", "cake", "pie", "pizza"]
TEAMS = ["home team", "visitors", "city club", "national side"]
DAYS = ["Monday", "Tuesday", "Friday", "Saturday"]


def make_corpus(n: int = 300, bio_frac: float = 0.15, phys_frac: float = 0.15, seed: int = 0):
    """Documents {id, text, topic} with topics bio, physics, general."""
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        u = rng.random()
        fill = dict(
            f=rng.choice(FIRST), l=rng.choice(LAST), job=rng.choice(JOBS), fld=rng.choice(FIELDS),
            p=rng.choice(PLACES), p2=rng.choice(PLACES), n=rng.randint(2, 40),
            n2=rng.randint(2, 40), y=rng.randint(1970, 2020), q=rng.choice(QS),
            q2=rng.choice(QS), obj=rng.choice(OBJS), food=rng.choice(FOODS),
            team=rng.choice(TEAMS), day=rng.choice(DAYS),
        )
        fill["pr"], fill["pos"] = rng.choice([("She", "her"), ("He", "his")])
        if u < bio_frac:
            topic, tpl = "bio", rng.choice(BIO)
        elif u < bio_frac + phys_frac:
            topic, tpl = "physics", rng.choice(PHYS)
        else:
            topic, tpl = "general", rng.choice(GEN)
        docs.append({"id": f"d{i}", "text": tpl.format(**fill), "topic": topic})
    return docs


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="session")
def synth_corpus(tmp_path_factory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("corpus") / "corpus.jsonl", make_corpus())


@pytest.fixture(scope="session")
def bio_seeds() -> list[str]:
    docs = make_corpus(n=60, bio_frac=1.0, seed=123)
    return [d["text"] for d in docs[:5]]


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, pythia_tokenizer_path) -> Path:
    """A 2-layer, 32-wide random GPTNeoX with the real Pythia tokenizer."""
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM, PreTrainedTokenizerFast

    out = tmp_path_factory.mktemp("tiny_neox")
    torch.manual_seed(0)
    cfg = GPTNeoXConfig(
        vocab_size=50304, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, rotary_pct=0.25, max_position_embeddings=256,
        bos_token_id=0, eos_token_id=0,
    )
    GPTNeoXForCausalLM(cfg).save_pretrained(out)
    tok = PreTrainedTokenizerFast(
        tokenizer_file=str(pythia_tokenizer_path), bos_token="<|endoftext|>",
        eos_token="<|endoftext|>", unk_token="<|endoftext|>", pad_token="<|endoftext|>",
    )
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_saes(tmp_path_factory, tiny_model_dir) -> Path:
    """A dictionary_learning folder with one random AutoEncoder at resid_out_layer1."""
    from ssae.dictionary import AutoEncoder

    out = tmp_path_factory.mktemp("saes")
    torch.manual_seed(1)
    ae = AutoEncoder(32, 128)
    with torch.no_grad():
        ae.encoder.bias.normal_(0, 0.1)
        ae.bias.normal_(0, 0.1)
    d = out / "resid_out_layer1" / "10_128"
    d.mkdir(parents=True)
    torch.save(ae.state_dict(), d / "ae.pt")
    (d / "config.json").write_text(json.dumps({"trainer": {"l1_penalty": 0.05}}))
    return out
