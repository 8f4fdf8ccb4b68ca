"""Helpers of the retrieval tests: a small labelled corpus generator and a quick SAE fit."""

from __future__ import annotations

import contextlib
import json
import random
from pathlib import Path

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


SLOTS = "f l job fld p p2 n n2 y q q2 obj food team day".split()


def make_corpus(n: int = 300, bio_frac: float = 0.15, phys_frac: float = 0.15, seed: int = 0):
    """Documents {id, text, topic} with topics bio, physics, general."""
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        u = rng.random()
        # drawn in this order, so the corpus stays the same for a seed
        words = [rng.choice(pool) for pool in (FIRST, LAST, JOBS, FIELDS, PLACES, PLACES)]
        numbers = [rng.randint(2, 40), rng.randint(2, 40), rng.randint(1970, 2020)]
        words += numbers + [rng.choice(pool) for pool in (QS, QS, OBJS, FOODS, TEAMS, DAYS)]
        fill = dict(zip(SLOTS, words, strict=True))
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


@contextlib.contextmanager
def one_thread():
    """Small matrices on a shared 2-core machine: one torch thread avoids OpenMP spin-waiting,
    which made these tests ~5x slower whenever other processes were busy."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_sae(lm, spec_name: str, texts: list[str], dict_size: int, l1: float, steps: int = 300):
    """A ReLU SAE fitted for a few hundred Adam steps on the model's activations over `texts`."""
    import numpy as np

    from ssae.archs import AutoEncoder
    from ssae.retrieval.tracin import submodule_activations, token_batches

    spec = lm.submodule(spec_name)
    toks = [np.asarray(lm.tokenizer(t, add_special_tokens=False)["input_ids"][:128]) for t in texts]
    pad = lm.tokenizer.pad_token_id or 0
    x = torch.cat(
        [a for _, a, _ in submodule_activations(lm, spec, token_batches(toks, pad), False)]
    )
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    ae = AutoEncoder(x.shape[1], dict_size)
    with torch.no_grad():
        ae.bias.copy_(x.mean(0))
    opt = torch.optim.Adam(ae.parameters(), lr=3e-3)
    for _ in range(steps):
        xb = x[torch.randint(0, len(x), (512,), generator=gen)]
        x_hat, f = ae(xb, output_features=True)
        loss = (xb - x_hat).pow(2).sum(-1).mean() + l1 * f.sum(-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        ae.normalize_decoder()
    return ae


def save_sae(ae, root: Path, name: str, l1: float) -> Path:
    d = root / name / f"10_{ae.dict_size}"
    d.mkdir(parents=True)
    torch.save(ae.state_dict(), d / "ae.pt")
    (d / "config.json").write_text(json.dumps({"trainer": {"l1_penalty": l1}}))
    return root
