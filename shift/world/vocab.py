"""Word lists of the tiny world, read from package data (`data/vocab.toml`, described there).

Lists become tuples; a topic or subdomain is a dict of them (`nouns`, `adjs`, `verbs`, `templates`,
and for the rare subdomains `ood_templates`, `tail`, `tail_templates`, toxic `insults`).
"""

from __future__ import annotations

import tomllib
from importlib import resources


def words(s: str) -> tuple[str, ...]:
    """Space-separated words as a tuple; `_` joins a multi-word item."""
    return tuple(w.replace("_", " ") for w in s.split())


def _tuples(table: dict) -> dict:
    return {k: tuple(v) if isinstance(v, list) else _tuples(v) for k, v in table.items()}


_VOCAB = _tuples(
    tomllib.loads(resources.files(__package__).joinpath("data/vocab.toml").read_text())
)

GENERAL_TOPICS: dict[str, dict[str, tuple[str, ...]]] = _VOCAB["general"]
GENERIC_TEMPLATES: tuple[str, ...] = _VOCAB["generic_templates"]
PHYSICS: dict[str, tuple[str, ...]] = _VOCAB["physics"]
TOXIC: dict[str, tuple[str, ...]] = _VOCAB["toxic"]
MALE_NAMES: tuple[str, ...] = _VOCAB["male_names"]
FEMALE_NAMES: tuple[str, ...] = _VOCAB["female_names"]
SURNAMES: tuple[str, ...] = _VOCAB["surnames"]
CITIES: tuple[str, ...] = _VOCAB["cities"]
DAYS: tuple[str, ...] = _VOCAB["days"]
