"""A TinyStories-like corpus: short children's stories with a small vocabulary (Eldan & Li 2023).

The SSAE paper trains a general SAE from scratch on TinyStories to see what Tilted ERM changes
when the data itself has a long tail. This generator writes such stories for the tiny world,
on demand for `shift study term --domain tinystories` (never by `ensure_world`): every story
follows the same arc (a character, what it loves, an outing, a problem, help, a moral), each step
drawn from a few templates, and every word list is sampled with Zipf weights by position, so a
handful of characters, toys and places fill most stories and a long tail of rare words
(a harmonica, a platypus, origami) appears in a few.

The stories are read by the world's language model, which was not trained on them: the study is
about the SAE objective on a long-tailed activation distribution, not about the model.
"""

from __future__ import annotations

import random

from shift.world.templates import ZipfChoice, fill, finish
from shift.world.vocab import FEMALE_NAMES, MALE_NAMES, words

# Bump when the stories change for the same seed and size.
STORIES_VERSION = 1

KINDS = words(
    "girl boy dog cat bunny bird bear duck mouse frog puppy kitten fox owl turtle lamb pony "
    "squirrel hedgehog penguin dragon unicorn platypus"
)
ADJS = words(
    "little small happy kind brave shy curious silly friendly tiny big gentle clever sleepy "
    "grumpy cheerful"
)
THINGS = words(
    "ball toy kite doll teddy_bear red_car book balloon cake boat truck hat blanket crayon "
    "puzzle drum cookie flower shell apple sandcastle robot umbrella bicycle lantern harmonica "
    "telescope kaleidoscope origami_crane accordion marionette compass xylophone"
)
PLACES = words(
    "park garden house forest beach school farm pond playground kitchen river hill meadow "
    "library zoo lighthouse orchard bakery circus observatory"
)
FEELINGS = words("happy sad scared excited proud sorry surprised worried glad upset amazed")

ARC = (
    (
        "Once upon a time, there was a {A} {K} named {Name}.",
        "There was once a {A} {K} called {Name}.",
        "{Name} was a {A} {K} who lived near the {P}.",
    ),
    (
        "{He} loved to play with {his} {T}.",
        "Every day, {Name} played with a {A} {T}.",
        "{Name} had a {T} that {he} liked very much.",
    ),
    (
        "One day, {Name} went to the {P} with {his} {T}.",
        "One sunny day, {Name} and {his} mom went to the {P}.",
        "On a rainy day, {Name} took the {T} to the {P}.",
    ),
    (
        "Suddenly, the {T} fell into the water and {Name} felt {F}.",
        "But then {Name} lost {his} {T} and began to cry.",
        "A big wind came and took the {T} away. {Name} was {F}.",
        "{Name} wanted to share the {T}, but {his} friend said no.",
    ),
    (
        "{His} friend, a {A} {K}, came to help {him}.",
        "{Name} asked {his} dad for help, and together they found the {T}.",
        "A {A} {K} saw what happened and gave {him} the {T} back.",
    ),
    (
        "{Name} felt {F} and said thank you.",
        "From that day on, {Name} always took care of {his} {T}.",
        "{Name} learned that sharing makes everyone {F}.",
        "They played at the {P} until the sun went down.",
    ),
)


def generate_stories(n: int, seed: int = 0, zipf: float = 1.1) -> list[str]:
    """`n` stories, a pure function of (n, seed, zipf)."""
    rng = random.Random(f"stories-{seed}")
    slots_lists = {
        "K": ZipfChoice(KINDS, zipf),
        "A": ZipfChoice(ADJS, zipf),
        "T": ZipfChoice(THINGS, zipf),
        "P": ZipfChoice(PLACES, zipf),
        "F": ZipfChoice(FEELINGS, zipf),
    }
    names = {0: ZipfChoice(MALE_NAMES, zipf), 1: ZipfChoice(FEMALE_NAMES, zipf)}
    stories = []
    for _ in range(n):
        female = int(rng.random() < 0.5)
        he, his, him = ("she", "her", "her") if female else ("he", "his", "him")
        # one story, one hero with one toy and one place: they hold for every sentence
        slots = {
            **slots_lists,
            "T": slots_lists["T"](rng),
            "P": slots_lists["P"](rng),
            "Name": names[female](rng),
            "he": he,
            "He": he.capitalize(),
            "his": his,
            "His": his.capitalize(),
            "him": him,
        }
        sentences = [finish(fill(rng.choice(step), rng, slots)) for step in ARC]
        if rng.random() < 0.5:  # a second outing makes lengths vary
            sentences[3:3] = [finish(fill(rng.choice(ARC[2]), rng, slots))]
        stories.append(" ".join(sentences))
    return stories
