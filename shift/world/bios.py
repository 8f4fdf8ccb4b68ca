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
from shift.world.professions import (
    BIO_TAIL,
    BIO_TAIL_TEMPLATES,
    PAIRS,
    PROFESSION_BY_NAME,
    PROFESSIONS,
    Profession,
)
from shift.world.templates import fill, fill_distinct, finish
from shift.world.vocab import CITIES, FEMALE_NAMES, MALE_NAMES, SURNAMES

MALE, FEMALE = 0, 1
SPLITS = ("train", "dev", "test")

_UNIVERSITIES = (
    "{City} University", "the University of {City}", "{City} State University", "{City} College",
    "Harvard University", "Stanford University", "Yale University", "the University of Michigan",
    "Columbia University", "McGill University", "the University of Toronto", "Oxford University",
)  # fmt: skip
_FIRST_SENTENCE = (
    "{Full} is a {Title} based in {City}.",
    "{Full} is a {Title} at {E}.",
    "{Full} is a {Title} who works at {E}.",
    "{Full} is a {Title} in {City}.",
    "{Honor} {Last} is a {Title} at {E}.",
)
_FIRST_SENTENCE_I = ("I am a {Title} based in {City}.", "I am a {Title} at {E}.")
_EDUCATION = (
    "{S} graduated from {Univ} with a {D} in {F}.",
    "{S} earned {pos} {D} from {Univ}.",
    "{S} hold{s} a {D} in {F} from {Univ}.",
    "{S} studied {F} at {Univ} and received {pos} {D} in {Year}.",
)
_EXPERIENCE = (
    "{S} {has} more than {Num} years of experience.",
    "Before joining {E}, {sp} worked in {City} for several years.",
    "{S} joined {E} in {Year}.",
    "{S} {has} been with {E} since {Year}.",
)
_SPECIALTY = (
    "{Pos} areas of expertise include {X}, {X} and {X}.",
    "{S} {is} especially interested in {X}.",
)
_TITLE_AGAIN = (
    "{S} {has} worked as a {Title} for {Num} years.",
    "As a {Title}, {sp} take{s} pride in {pos} work.",
)
_ASSOCIATION = ("{S} {is} a member of the {Assoc}.", "{S} serve{s} on the board of the {Assoc}.")
_PERSONAL = (
    "{S} live{s} in {City} with {pos} {Spouse} and {Kids}.",
    "In {pos} free time, {sp} enjoy{s} {H} and {H}.",
    "Outside of work, {sp} love{s} {H}.",
    "{S} {is} a proud {Parent} of {Kids}.",
    "{S} live{s} in {City} with {pos} {Spouse}.",
)
_HOBBIES = (
    "hiking", "running", "cooking", "reading", "gardening", "travel", "yoga", "cycling", "baking",
    "sailing", "skiing", "playing the piano", "fishing", "volunteering at the local food bank",
    "swimming", "chess", "birdwatching",
)  # fmt: skip
_KIDS = (
    "two children", "three kids", "their dog", "two cats", "their daughter", "their son",
    "four children", "two teenage sons", "a young daughter",
)  # fmt: skip


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
    slots = _person_slots(rng, prof, gender, first, last, first_person)
    # One employer, degree and field per biography, so that its sentences agree with each other.
    for key, pool in (("D", prof.degrees), ("F", prof.fields), ("E", prof.employers)):
        slots[key] = fill(rng.choice(pool), rng, slots)

    def say(templates: tuple[str, ...]) -> str:
        return finish(fill_distinct(rng.choice(templates), rng, slots, "X", prof.specialties))

    head = []
    if rng.random() < 0.75:
        # "associate degree in nursing" already names its field.
        edu = tuple(t for t in _EDUCATION if " in " not in slots["D"] or "{D} in" not in t)
        head.append(say(edu))
    if rng.random() < 0.6:
        head.append(say(_EXPERIENCE))
    rng.shuffle(head)
    k = rng.randint(2, min(4, len(prof.duties)))
    middle = [finish(fill_distinct(t, rng, slots, "X", prof.specialties))
              for t in rng.sample(prof.duties, k)]  # fmt: skip
    if rng.random() < 0.35:
        middle.append(say(_SPECIALTY))
    if rng.random() < cfg.title_word_prob:
        middle.append(say(_TITLE_AGAIN))
    tail = None
    if rng.random() < tail_prob:
        tail = rng.choice(BIO_TAIL)
        middle.append(finish(fill(rng.choice(BIO_TAIL_TEMPLATES), rng, {**slots, "T": tail})))
    rng.shuffle(middle)
    end = []
    if rng.random() < 0.3:
        end.append(say(_ASSOCIATION))
    if rng.random() < 0.45:
        end.append(say(_PERSONAL))
    body = head + middle if rng.random() < 0.6 else middle + head
    sentences = body + end
    opening = _FIRST_SENTENCE_I if first_person else _FIRST_SENTENCE
    first_sentence = finish(fill(rng.choice(opening), rng, slots))
    hard_text = " ".join(sentences)
    return Bio(f"{first_sentence} {hard_text}", hard_text, prof.pid, gender, tail)


def _person_slots(
    rng: random.Random, prof: Profession, gender: int, first: str, last: str, first_person: bool
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
        u = r.random()
        if u < 0.62:
            return he.capitalize()
        if u < 0.74:
            return first
        if u < 0.88:
            return f"{honor} {last}"
        return f"{first} {last}"

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
        "Univ": lambda r: r.choice(_UNIVERSITIES),
        "Num": lambda r: str(r.randint(3, 30)),
        "Year": lambda r: str(r.randint(1985, 2022)),
        "Assoc": lambda r: r.choice(prof.associations),
        "Spouse": spouse,
        "Parent": parent,
        "Kids": lambda r: r.choice(_KIDS),
        "H": lambda r: r.choice(_HOBBIES),
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
