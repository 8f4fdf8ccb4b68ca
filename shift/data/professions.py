"""The labels of Bias in Bios (LabHC schema): profession ids and names, genders, and the
`--professions A,B` pair a run compares. No numpy or torch, so that options are checked at once.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Sequence

from ssae.errors import DataError

PROFESSIONS = (
    "accountant",
    "architect",
    "attorney",
    "chiropractor",
    "comedian",
    "composer",
    "dentist",
    "dietitian",
    "dj",
    "filmmaker",
    "interior_designer",
    "journalist",
    "model",
    "nurse",
    "painter",
    "paralegal",
    "pastor",
    "personal_trainer",
    "photographer",
    "physician",
    "poet",
    "professor",
    "psychologist",
    "rapper",
    "software_engineer",
    "surgeon",
    "teacher",
    "yoga_teacher",
)
"""LabHC profession ids: `PROFESSIONS[i]` is the name of id i."""

GENDERS = ("male", "female")
DEFAULT_PROFESSIONS = ("professor", "nurse")


def profession_id(profession: str | int) -> int:
    """LabHC id of a profession given by name (any case, `_`/`-`/space) or id."""
    if isinstance(profession, numbers.Integral) and not isinstance(profession, bool):
        pid = int(profession)
    else:
        text = str(profession).strip().lower()
        if text.isdigit():
            pid = int(text)
        else:
            name = re.sub(r"[\s\-]+", "_", text)
            pid = PROFESSIONS.index(name) if name in PROFESSIONS else -1
    if not 0 <= pid < len(PROFESSIONS):
        listing = ", ".join(f"{n}={i}" for i, n in enumerate(PROFESSIONS))
        raise DataError(f"unknown profession {profession!r}; use a name or id: {listing}")
    return pid


def parse_professions(spec: str | Sequence[str | int]) -> tuple[int, int]:
    """`"professor,nurse"` or `("professor", 13)` -> `(21, 13)`: the pair (label 0, label 1)."""
    items = [s for s in spec.split(",") if s.strip()] if isinstance(spec, str) else list(spec)
    if len(items) != 2:
        raise DataError(f"--professions needs exactly two professions A,B (got {spec!r})")
    a, b = (profession_id(x) for x in items)
    if a == b:
        raise DataError(f"--professions needs two different professions (got {spec!r})")
    return a, b
