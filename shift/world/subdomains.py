"""Study data of the world's physics-like and toxic-like subdomains, built on demand.

The SSAE studies (`shift study`) need more of a rare subdomain than the world's corpus and
held-out files hold, and only they need it, so it is generated here when a study asks for it
(cached as the study's own artifact), never by `ensure_world`:

- in-distribution documents: fresh documents of the topic written exactly as the corpus's are
  (same writer, same Zipf weights, same tail-concept rate), none equal to a corpus document;
- out-of-distribution documents: the same subject in another register (the topic's
  `ood_templates`: physics as questions and worked answers, toxicity as chat messages, in words
  the corpus uses), as the SSAE paper tests arXiv-physics SSAEs on physics instruction data;
- probe documents: for each tail concept, documents that mention it, so recall of every planted
  concept can be measured however rare it is in the corpus;
- the tail concepts themselves with the number of corpus documents that mention each (from the
  world manifest).

Every document comes from a `random.Random` seeded by the world seed, the topic and the part, so
the data is a pure function of (world, topic, sizes).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from shift.world.build import WorldPaths
from shift.world.config import get_config
from shift.world.corpus import DocumentWriter
from shift.world.vocab import PHYSICS, TOXIC
from ssae.errors import DataError
from ssae.io import write_json
from ssae.studies.data import Concept

# Bump when the generated study data changes for the same world and sizes.
STUDY_DATA_VERSION = 2
SPECS = {"physics": PHYSICS, "toxic": TOXIC}


def _check_topic(topic: str) -> dict:
    if topic not in SPECS:
        raise DataError(f"the world has no study data for topic {topic!r}; choose {sorted(SPECS)}")
    return SPECS[topic]


def documents(
    world: WorldPaths, topic: str, n: int, part: str, register: str = "templates"
) -> list[str]:
    """`n` new documents of `topic` in `register`, none equal to a corpus document."""
    _check_topic(topic)
    manifest = world.read_manifest()
    writer = DocumentWriter(get_config(manifest["preset"]))
    rng = random.Random(f"study-{part}-{topic}-{manifest['seed']}")
    seen = _corpus_texts(world)
    out: list[str] = []
    for _ in range(100 * n + 100):
        if len(out) == n:
            return out
        text, _ = writer.write(rng, topic, register=register)
        if text not in seen:
            seen.add(text)
            out.append(text)
    raise DataError(f"could not write {n} distinct {topic} documents; ask for fewer")


def probe_documents(world: WorldPaths, topic: str, per_concept: int) -> list[str]:
    """`per_concept` documents mentioning each tail concept of `topic`, concept by concept."""
    spec = _check_topic(topic)
    manifest = world.read_manifest()
    writer = DocumentWriter(get_config(manifest["preset"]))
    rng = random.Random(f"study-probe-{topic}-{manifest['seed']}")
    return [writer.write(rng, topic, tail=c)[0] for c in spec["tail"] for _ in range(per_concept)]


def tail_concepts(world: WorldPaths, topic: str) -> list[Concept]:
    """The topic's tail concepts with their corpus document counts from the manifest."""
    spec = _check_topic(topic)
    counts = world.read_manifest().get("tail_concepts", {}).get(topic, {})
    return [Concept(c, (c,), int(counts.get(c, 0))) for c in spec["tail"]]


def write_study_data(
    world: WorldPaths, topic: str, out: Path, n_id: int, n_ood: int, per_concept: int
) -> dict[str, Path]:
    """The files a study reads (in `out`): id.jsonl, ood.jsonl, probe.jsonl, concepts.json."""
    out.mkdir(parents=True, exist_ok=True)
    parts = {
        "id": documents(world, topic, n_id, "id"),
        "ood": documents(world, topic, n_ood, "ood", register="ood_templates"),
        "probe": probe_documents(world, topic, per_concept),
    }
    paths = {}
    for name, texts in parts.items():
        paths[name] = out / f"{name}.jsonl"
        with open(paths[name], "w", encoding="utf-8") as fh:
            for i, t in enumerate(texts):
                fh.write(json.dumps({"id": f"{name}-{i}", "text": t, "topic": topic}) + "\n")
    paths["concepts"] = out / "concepts.json"
    write_json(paths["concepts"], [c.to_json() for c in tail_concepts(world, topic)])
    return paths


def _corpus_texts(world: WorldPaths) -> set[str]:
    with open(world.corpus, encoding="utf-8") as fh:
        return {json.loads(line)["text"] for line in fh if line.strip()}
