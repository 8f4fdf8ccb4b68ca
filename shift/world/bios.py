"""Biographies: the corpus's biography subdomain and the Bias-in-Bios-schema dataset.

A biography is the Bias in Bios (De-Arteaga et al. 2019) kind of text: a first sentence naming the
person and the profession ("Anna Kim is a nurse at a children's hospital."), then sentences about
education, experience, duties, specialties and private life. BiB's `hard_text` is the biography
without that first sentence, so the profession must be read from its vocabulary (duties, employers,
degrees), not from the title word; the title reappears only now and then, as in real biographies.

Gender is carried the way it is in real biographies, with natural variety: pronouns (he/she,
his/her, him), first names, titles (Mr./Ms./Mrs.; "Dr." carries none), spouses and parenthood; a
few biographies are written in the first person and carry almost none. Each profession's gender mix
follows real BiB roughly (`Profession.p_female`); that imbalance is the spurious correlation SHIFT
removes. Nothing here is tuned for any method.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from shift.world.config import BibConfig
from shift.world.professions import PAIRS, PROFESSION_BY_NAME, PROFESSIONS, Profession, world_data
from shift.world.templates import fill, fill_distinct, finish
from shift.world.vocab import CITIES, FEMALE_NAMES, MALE_NAMES, SURNAMES

MALE, FEMALE = 0, 1
SPLITS = ("train", "dev", "test")
_B = {k: tuple(v) if isinstance(v, list) else v for k, v in world_data("biographies").items()}
_THEMES = {k: tuple(v) for k, v in _B["themes"].items()}
BIO_TAIL = tuple(_B["tail"]["concepts"])
BIO_TAIL_TEMPLATES = tuple(_B["tail"]["templates"])


@dataclass(frozen=True)
class Bio:
    text: str
    """The whole biography, first sentence included (what the corpus holds)."""
    hard_text: str
    """The biography without its first sentence (BiB's `hard_text`)."""
    profession: int
    """LabHC profession id."""
    gender: int
    """0 male, 1 female."""
    tail: str | None
    """The tail concept this biography mentions, if any."""


def make_bio(
    rng: random.Random, prof: Profession, gender: int, cfg: BibConfig, tail_prob: float
) -> Bio:
    """One biography of a person of the given profession and gender."""
    first_person = rng.random() < cfg.first_person_prob
    first = rng.choice(FEMALE_NAMES if gender == FEMALE else MALE_NAMES)
    last = rng.choice(SURNAMES)
    slots = _person_slots(rng, prof, gender, first, last, first_person, cfg.pronoun_prob)
    # One employer, degree and field per biography, so that its sentences agree with each other.
    degrees = _B["generic_degrees"] if rng.random() < cfg.generic_degree_prob else prof.degrees
    for key, pool in (("D", degrees), ("F", prof.fields), ("E", prof.employers)):
        slots[key] = fill(rng.choice(pool), rng, slots)

    def say(templates: tuple[str, ...]) -> str:
        return finish(fill_distinct(rng.choice(templates), rng, slots, "X", prof.specialties))

    head = []
    if rng.random() < 0.75:
        # "associate degree in nursing" already names its field.
        edu = tuple(t for t in _B["education"] if " in " not in slots["D"] or "{D} in" not in t)
        head.append(say(edu))
    if rng.random() < 0.6:
        head.append(say(_B["experience"]))
    rng.shuffle(head)
    k = rng.randint(*cfg.duty_sentences)
    middle = [say((t,)) for t in rng.sample(prof.duties, min(k, len(prof.duties)))]
    middle += [say((t,)) for t in _theme_sentences(rng, prof, rng.randint(*cfg.theme_sentences))]
    if rng.random() < 0.35:
        middle.append(say(_B["specialty"]))
    if rng.random() < cfg.title_word_prob:
        middle.append(say(_B["title_again"]))
    tail = None
    if rng.random() < tail_prob:
        tail = rng.choice(BIO_TAIL)
        middle.append(finish(fill(rng.choice(BIO_TAIL_TEMPLATES), rng, {**slots, "T": tail})))
    rng.shuffle(middle)
    end = []
    if rng.random() < 0.3:
        end.append(say(_B["association"]))
    n_personal = rng.randint(*cfg.personal_sentences)
    end += [say((t,)) for t in rng.sample(_B["personal"], n_personal)]
    body = head + middle if rng.random() < 0.6 else middle + head
    sentences = body + end
    opening = _B["first_sentence_first_person" if first_person else "first_sentence"]
    first_sentence = finish(fill(rng.choice(opening), rng, slots))
    hard_text = " ".join(sentences)
    return Bio(f"{first_sentence} {hard_text}", hard_text, prof.pid, gender, tail)


def _theme_sentences(rng: random.Random, prof: Profession, n: int) -> list[str]:
    """n distinct templates of the career themes a profession shares, drawn by its weights."""
    names = [t for t, _ in prof.themes]
    weights = [w for _, w in prof.themes]
    picked: list[str] = []
    for _ in range(n):
        pool = [t for t in _THEMES[rng.choices(names, weights)[0]] if t not in picked]
        if pool:
            picked.append(rng.choice(pool))
    return picked


def _person_slots(
    rng: random.Random,
    prof: Profession,
    gender: int,
    first: str,
    last: str,
    first_person: bool,
    pronoun_prob: float,
) -> dict:
    female = gender == FEMALE
    he, his, him = ("she", "her", "her") if female else ("he", "his", "him")
    if prof.doctor and rng.random() < 0.6:
        honor = "Dr."
    else:
        honor = ("Mrs." if rng.random() < 0.3 else "Ms.") if female else "Mr."

    def subject(r: random.Random) -> str:
        if first_person:
            return "I"
        if r.random() < pronoun_prob:
            return he.capitalize()
        # Names share the rest: first name, title and surname, full name.
        return r.choice((first, f"{honor} {last}", f"{first} {last}"))

    def spouse(r: random.Random) -> str:
        u = r.random()
        if u < 0.25:
            return "partner"
        return ("husband" if female else "wife") if u < 0.9 else ("wife" if female else "husband")

    def parent(r: random.Random) -> str:
        return ("mother" if female else "father") if r.random() < 0.7 else "parent"

    if first_person:
        he, his, him = "I", "my", "me"
    return {
        "S": subject,
        "sp": he,
        "Pos": his.capitalize(),
        "pos": his,
        "obj": him,
        "has": "have" if first_person else "has",
        "is": "am" if first_person else "is",
        "was": "was",
        "s": "" if first_person else "s",
        "es": "" if first_person else "es",
        "Full": f"{first} {last}",
        "Last": last,
        "Honor": honor,
        "Title": lambda r: r.choice(prof.titles),
        "City": lambda r: r.choice(CITIES),
        "Univ": lambda r: r.choice(_B["universities"]),
        "Num": lambda r: str(r.randint(3, 30)),
        "Year": lambda r: str(r.randint(1985, 2022)),
        "Assoc": lambda r: r.choice(prof.associations),
        "Spouse": spouse,
        "Parent": parent,
        "Kids": lambda r: r.choice(_B["kids"]),
        "H": lambda r: r.choice(_B["hobbies"]),
    }


def split_sizes(cfg: BibConfig) -> dict[str, dict[str, tuple[int, int]]]:
    """(male, female) counts per split and profession.

    A profession's split has its `weight` share of the split's biographies, divided by its
    `p_female`; for the SHIFT pair
    professions the split grows until its minority gender has at least `min_group` biographies,
    so that balanced subsets of every pair stay usable.
    """
    pair_names = {name for pair in PAIRS for name in pair}
    sizes: dict[str, dict[str, tuple[int, int]]] = {}
    total_weight = sum(p.weight for p in PROFESSIONS)
    for k, split in enumerate(SPLITS):
        sizes[split] = {}
        for prof in PROFESSIONS:
            n = round(cfg.total_per_split[k] * prof.weight / total_weight)
            if prof.name in pair_names:
                minority = min(prof.p_female, 1 - prof.p_female)
                n = max(n, math.ceil(cfg.min_group[k] / minority - 1e-9))
            n_female = round(n * prof.p_female)
            sizes[split][prof.name] = (n - n_female, n_female)
    return sizes


def generate_bib(cfg: BibConfig, seed: int, tail_prob: float) -> dict[str, list[Bio]]:
    """The train/dev/test biographies, each split in shuffled order."""
    out = {}
    for split, per_prof in split_sizes(cfg).items():
        rng = random.Random(f"bib-{split}-{seed}")
        people = [
            (PROFESSION_BY_NAME[name], gender)
            for name, (n_male, n_female) in per_prof.items()
            for gender, n in ((MALE, n_male), (FEMALE, n_female))
            for _ in range(n)
        ]
        rng.shuffle(people)
        out[split] = [make_bio(rng, prof, gender, cfg, tail_prob) for prof, gender in people]
    return out
