"""Professions of the tiny world's biographies, with the real Bias-in-Bios (LabHC) label ids.

The tables are package data (`data/professions.toml`); this module gives them types. Each
profession carries the vocabulary that makes it learnable from a biography whose first sentence
(the one naming the profession) has been removed, as in BiB's `hard_text`: employers, degree
fields, duties written as sentence templates, specialties and associations, and the weights of the
career themes it shares with other professions (`data/biographies.toml`: a professor and a nurse
may both teach or do research). `p_female` is roughly the share of women among that profession's
biographies in the real dataset, and `weight` roughly its share of all biographies.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from functools import cache
from importlib import resources

from ssae.errors import ConfigError

# The 28 LabHC/bias_in_bios professions in label order.
BIB_PROFESSIONS = (
    "accountant architect attorney chiropractor comedian composer dentist dietitian dj filmmaker "
    "interior_designer journalist model nurse painter paralegal pastor personal_trainer "
    "photographer physician poet professor psychologist rapper software_engineer surgeon teacher "
    "yoga_teacher"
).split()
PROFESSION_ID = {name: i for i, name in enumerate(BIB_PROFESSIONS)}

# The profession pairs SHIFT experiments use (label 0 profession, label 1 profession).
PAIRS = (("professor", "nurse"), ("surgeon", "psychologist"), ("attorney", "teacher"),
         ("architect", "journalist"))  # fmt: skip


@dataclass(frozen=True)
class Profession:
    name: str
    """LabHC profession name (key of PROFESSION_ID)."""
    titles: tuple[str, ...]
    """How the first sentence names the profession (also reused, rarely, later in a bio)."""
    p_female: float
    """Share of women among this profession's biographies."""
    weight: float
    """Relative frequency among all biographies (BiB-like)."""
    employers: tuple[str, ...]
    """Workplaces (templates; one is chosen per biography)."""
    degrees: tuple[str, ...]
    """Degrees held (one per biography)."""
    fields: tuple[str, ...]
    """Fields of study (one per biography)."""
    duties: tuple[str, ...]
    """Sentence templates about the work only this profession does."""
    specialties: tuple[str, ...]
    """Fillers of {X}: areas, units, clients, subjects."""
    associations: tuple[str, ...]
    """Professional bodies a person may belong to."""
    themes: tuple[tuple[str, float], ...]
    """(theme, weight) of the shared career themes this profession's biographies draw from."""
    doctor: bool = False
    """Whether "Dr." is a usual title (it carries no gender)."""

    def __post_init__(self):
        if self.name not in PROFESSION_ID:
            raise ConfigError(f"{self.name!r} is not a LabHC profession")
        if not 0 < self.p_female < 1 or self.weight <= 0:
            raise ConfigError(f"{self.name}: p_female must be in (0, 1) and weight > 0")

    @property
    def pid(self) -> int:
        return PROFESSION_ID[self.name]


def _profession(entry: dict) -> Profession:
    names = {f.name for f in fields(Profession)}
    unknown = sorted(set(entry) - names)
    if unknown:
        raise ConfigError(f"professions.toml: unknown field(s) {unknown} in {entry.get('name')}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in entry.items()}
    values["themes"] = tuple(entry.get("themes", {}).items())
    return Profession(**values)


@cache
def world_data(name: str) -> dict:
    """A TOML table of the world's package data (`professions`, `biographies`, ...)."""
    text = resources.files("shift.world").joinpath("data", f"{name}.toml").read_text("utf-8")
    return tomllib.loads(text)


PROFESSIONS: tuple[Profession, ...] = tuple(
    _profession(e) for e in world_data("professions")["profession"]
)
PROFESSION_BY_NAME = {p.name: p for p in PROFESSIONS}
