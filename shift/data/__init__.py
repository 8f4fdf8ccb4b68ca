"""Datasets of the SHIFT pipeline: Bias in Bios (hub, local files, or the tiny world's copy).

The names below are imported on first use (`ssae.lazy`), so that checking a profession pair
(`shift.data.professions`) imports no torch.
"""

from ssae.lazy import lazy_exports

EXPORTS = {
    "GENDERS": "shift.data.professions",
    "PROFESSIONS": "shift.data.professions",
    "parse_professions": "shift.data.professions",
    "profession_id": "shift.data.professions",
    "HUB_ID": "shift.data.bib",
    "BibData": "shift.data.bib",
    "BibSplit": "shift.data.bib",
    "BibTable": "shift.data.bib",
    "build_split": "shift.data.bib",
    "load_bib": "shift.data.bib",
    "load_bib_tables": "shift.data.bib",
}
"""Name -> the module that defines it."""

__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
__all__ = sorted(EXPORTS)
