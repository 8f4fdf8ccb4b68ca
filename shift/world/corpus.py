"""The generated general corpus and the held-out documents.

Topic mix: each rare subdomain (biography, physics, toxic) gets a fixed small fraction of the
documents; the general topics share the rest with Zipf frequencies, p(topic of rank r) ~ 1 / r^s.
Inside a topic, words are drawn with Zipf weights over the topic's word lists (see `templates`), so
the corpus has the heavy-tailed unigram statistics of natural text.

Rare subdomains also have *tail concepts*: words that occur in only a small fraction of that
subdomain's documents (each rare document mentions one with probability `tail_prob`, chosen
uniformly among ~10), i.e. in roughly tail_prob / 10 of 1% of the corpus; the manifest records how
many corpus documents mention each. A general SAE trained on the corpus sees them very rarely;
that is the "dark matter" specialised SAEs are meant to recover, and the SSAE studies score
recall of these known concepts against their known frequencies.

Counts per topic are allocated exactly (largest remainders), then documents are shuffled, so that
the manifest's fractions equal the configured ones up to rounding.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from shift.world.bios import make_bio
from shift.world.config import RARE_TOPICS, WorldConfig
from shift.world.professions import PROFESSIONS
from shift.world.templates import ZipfChoice, fill, finish
from shift.world.vocab import (
    CITIES,
    DAYS,
    FEMALE_NAMES,
    GENERAL_TOPICS,
    GENERIC_TEMPLATES,
    MALE_NAMES,
    PHYSICS,
    SURNAMES,
    TOXIC,
)


@dataclass(frozen=True)
class Doc:
    id: int
    text: str
    topic: str
    tail: str | None = None
    """Tail concept mentioned (rare subdomains only); kept out of the jsonl schema."""

    def record(self) -> dict:
        return {"id": self.id, "text": self.text, "topic": self.topic}


def topic_fractions(cfg: WorldConfig) -> dict[str, float]:
    """Configured share of each topic: Zipf over general topics, a fixed share per rare one."""
    general = list(GENERAL_TOPICS)
    z = [1.0 / (r + 1) ** cfg.corpus.topic_zipf for r in range(len(general))]
    rest = 1.0 - cfg.corpus.rare_fraction * len(RARE_TOPICS)
    fr = {t: rest * w / sum(z) for t, w in zip(general, z)}
    fr.update({t: cfg.corpus.rare_fraction for t in RARE_TOPICS})
    return fr


def allocate(n: int, fractions: dict[str, float]) -> dict[str, int]:
    """Integer counts summing to n, closest to n * fraction (largest-remainder method)."""
    raw = {t: n * f for t, f in fractions.items()}
    counts = {t: int(v) for t, v in raw.items()}
    by_remainder = sorted(raw, key=lambda t: (-(raw[t] - counts[t]), t))
    for t in by_remainder[: n - sum(counts.values())]:
        counts[t] += 1
    return counts


class DocumentWriter:
    """Writes one document of a given topic from a `random.Random`."""

    def __init__(self, cfg: WorldConfig):
        self.cfg = cfg
        s = cfg.corpus.word_zipf
        self.topics = {}
        for name, spec in {**GENERAL_TOPICS, "physics": PHYSICS, "toxic": TOXIC}.items():
            keys = [k for k in ("nouns", "adjs", "verbs", "insults") if k in spec]
            self.topics[name] = {k: ZipfChoice(spec[k], s) for k in keys}
        self.cities = ZipfChoice(CITIES, s)
        self.bio_weights = [p.weight for p in PROFESSIONS]

    def write(
        self,
        rng: random.Random,
        topic: str,
        tail: str | None = None,
        register: str = "templates",
    ) -> tuple[str, str | None]:
        """(text, tail concept or None). For physics and toxic text, `tail` forces a mention of
        that concept and `register` picks another template list of the topic (e.g. the
        instruction-style `ood_templates` of the SSAE studies)."""
        if topic == "biography":
            prof = rng.choices(PROFESSIONS, weights=self.bio_weights)[0]
            gender = int(rng.random() < prof.p_female)
            bio = make_bio(rng, prof, gender, self.cfg.bib, self.cfg.corpus.tail_prob)
            return bio.text, bio.tail
        c = self.cfg.corpus
        if topic in ("physics", "toxic"):
            spec = PHYSICS if topic == "physics" else TOXIC
            n = rng.randint(max(2, c.min_sentences - 1), c.max_sentences)
            person = Person(rng)
            sentences = [
                self._sentence(rng, topic, rng.choice(spec[register]), person) for _ in range(n)
            ]
            if tail is None and rng.random() < c.tail_prob:
                tail = rng.choice(spec["tail"])
            if tail is not None:
                for _ in range(rng.randint(1, 2)):
                    t = rng.choice(spec["tail_templates"])
                    sentences.insert(
                        rng.randint(0, len(sentences)), self._sentence(rng, topic, t, person, tail)
                    )
            return " ".join(sentences), tail
        spec = GENERAL_TOPICS[topic]
        n = rng.randint(c.min_sentences, c.max_sentences)
        person = Person(rng)
        out = []
        for _ in range(n):
            pool = spec["templates"] if rng.random() < 0.4 else GENERIC_TEMPLATES
            out.append(self._sentence(rng, topic, rng.choice(pool), person))
        return " ".join(out), None

    def _sentence(
        self, rng: random.Random, topic: str, template: str, person: Person, tail: str = ""
    ) -> str:
        w = self.topics[topic]
        slots = {
            "N": w["nouns"],
            "A": w["adjs"],
            "V": w["verbs"],
            "I": w.get("insults", w["nouns"]),
            "T": tail,
            "Name": person.mention,
            "he": person.he,
            "He": person.he.capitalize(),
            "his": person.his,
            "His": person.his.capitalize(),
            "him": person.him,
            "City": self.cities,
            "Num": lambda r: str(r.randint(2, 99)),
            "Year": lambda r: str(r.randint(1900, 2024)),
            "Day": lambda r: r.choice(DAYS),
        }
        return finish(fill(template, rng, slots))


class Person:
    """The person a document is about: every {Name} and pronoun of the document refers to them.

    Natural text keeps talking about the same people, so a reader (and a language model) has to
    carry who they are, their gender included, from sentence to sentence; the first mention gives
    the full name, later ones the first name, the surname or the full name again.
    """

    def __init__(self, rng: random.Random):
        female = rng.random() < 0.5
        self.first = rng.choice(FEMALE_NAMES if female else MALE_NAMES)
        self.last = rng.choice(SURNAMES)
        self.he, self.his, self.him = ("she", "her", "her") if female else ("he", "his", "him")
        self.mentioned = False

    def mention(self, rng: random.Random) -> str:
        if not self.mentioned:
            self.mentioned = True
            return f"{self.first} {self.last}"
        return rng.choice((self.first, self.last, f"{self.first} {self.last}"))


def generate_corpus(cfg: WorldConfig, seed: int) -> list[Doc]:
    """The training corpus: `n_docs` documents in shuffled order, ids 0..n-1."""
    rng = random.Random(f"corpus-{seed}")
    counts = allocate(cfg.corpus.n_docs, topic_fractions(cfg))
    topics = [t for t, k in counts.items() for _ in range(k)]
    rng.shuffle(topics)
    writer = DocumentWriter(cfg)
    docs = []
    for i, topic in enumerate(topics):
        text, tail = writer.write(rng, topic)
        docs.append(Doc(i, text, topic, tail))
    return docs


def generate_heldout(cfg: WorldConfig, seed: int, exclude: set[str]) -> list[Doc]:
    """Held-out documents of every topic (at least `heldout_min_per_topic` each), none in `exclude`."""
    rng = random.Random(f"heldout-{seed}")
    counts = allocate(cfg.corpus.n_heldout, topic_fractions(cfg))
    counts = {t: max(k, cfg.corpus.heldout_min_per_topic) for t, k in counts.items()}
    writer = DocumentWriter(cfg)
    docs = []
    for topic, k in counts.items():
        made = 0
        for _ in _bounded(100 * k + 100):
            if made == k:
                break
            text, tail = writer.write(rng, topic)
            if text in exclude:
                continue
            exclude.add(text)
            docs.append(Doc(0, text, topic, tail))
            made += 1
    rng.shuffle(docs)
    return [Doc(i, d.text, d.topic, d.tail) for i, d in enumerate(docs)]


def _bounded(n: int) -> Iterator[int]:
    return iter(range(n))
