"""Datasets of the SHIFT pipeline: Bias in Bios (hub, local files, or the tiny world's copy)."""

from shift.data.bib import (
    GENDERS,
    HUB_ID,
    PROFESSIONS,
    BibData,
    BibSplit,
    BibTable,
    build_split,
    load_bib,
    load_bib_tables,
    parse_professions,
    profession_id,
)

__all__ = [
    "GENDERS",
    "HUB_ID",
    "PROFESSIONS",
    "BibData",
    "BibSplit",
    "BibTable",
    "build_split",
    "load_bib",
    "load_bib_tables",
    "parse_professions",
    "profession_id",
]
