"""Study data generated on demand from the world: subdomain documents in two registers, concept
probes, and the TinyStories-like corpus; the world's own corpus is left as it was."""

from __future__ import annotations

import json
import random
import re
from collections import Counter

import pytest

from shift.world.config import get_config
from shift.world.corpus import DocumentWriter
from shift.world.stories import THINGS, generate_stories
from shift.world.subdomains import documents, probe_documents, tail_concepts
from ssae.errors import DataError


def test_forced_tail_and_register_leave_the_default_documents_alone():
    """The study hooks (a forced tail concept, another register) do not change what the writer
    produces by default, so the world's corpus stays byte for byte what it was."""
    writer = DocumentWriter(get_config("micro"))
    a = [writer.write(random.Random(k), "physics") for k in range(50)]
    b = [writer.write(random.Random(k), "physics", None, "templates") for k in range(50)]
    assert a == b and any(t is not None for _, t in a)
    text, tail = writer.write(random.Random(0), "physics", tail="muon")
    assert tail == "muon" and "muon" in text
    ood, _ = writer.write(random.Random(0), "toxic", register="ood_templates")
    assert ood != writer.write(random.Random(0), "toxic")[0]


def test_subdomain_documents_are_new_deterministic_and_in_their_register(micro_world):
    corpus = {json.loads(line)["text"] for line in micro_world.corpus.read_text().splitlines()}
    docs = documents(micro_world, "physics", 40, "id")
    assert len(set(docs)) == 40 and not set(docs) & corpus
    assert docs == documents(micro_world, "physics", 40, "id")
    ood = documents(micro_world, "physics", 40, "ood", register="ood_templates")
    marks = re.compile(r"\?|The answer|You can see why")
    assert all(marks.search(d) for d in ood) and not any(marks.search(d) for d in docs)
    with pytest.raises(DataError, match="no study data for topic 'cooking'"):
        documents(micro_world, "cooking", 1, "id")


def test_probes_mention_every_concept_and_concepts_carry_corpus_counts(micro_world):
    probes = probe_documents(micro_world, "toxic", per_concept=3)
    concepts = tail_concepts(micro_world, "toxic")
    assert len(probes) == 3 * len(concepts)
    for i, c in enumerate(concepts):
        assert all(c.name in doc for doc in probes[3 * i : 3 * i + 3])
    counts = micro_world.read_manifest()["tail_concepts"]["toxic"]
    assert {c.name: c.corpus_docs for c in concepts} == {
        c.name: counts.get(c.name, 0) for c in concepts
    }


def test_stories_are_deterministic_one_hero_and_long_tailed():
    stories = generate_stories(400, seed=3)
    assert stories == generate_stories(400, seed=3) and stories != generate_stories(400, seed=4)
    for s in stories[:50]:
        hero = re.search(r"(?:named|called) (\w+)|^(\w+) was a", s)
        assert hero, s
        name = hero.group(1) or hero.group(2)
        assert s.count(name) >= 3
    things = Counter(t for s in stories for t in THINGS if f" {t} " in f" {s} ")
    assert things[THINGS[0]] > 10 * max(1, things[THINGS[-1]])
