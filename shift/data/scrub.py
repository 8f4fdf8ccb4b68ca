"""Gendered-word deletion: the cheap baseline that removes the spurious signal from the text itself.

Public critiques of the Bias in Bios SHIFT benchmark point out that deleting the words that state
gender - pronouns, gendered first names and titles - and then training the probe as usual does as
well as editing the model. This module does the deletion; the word lists are data
(`gendered_words.json`: pronouns and titles match in any case / as written, names match as
capitalised whole words).

A deleted word takes one neighbouring space with it, so "Then she said" becomes "Then said" and
"Ms. Kim is" becomes "Kim is"; nothing else in the text changes.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from importlib import resources

from ssae.errors import DataError


@dataclass(frozen=True)
class GenderedWords:
    """The words deleted, by kind."""

    pronouns: tuple[str, ...]
    """Matched in any case (he, He, HE)."""
    titles: tuple[str, ...]
    """Matched as written (Mr., Mrs, Ms., Sir)."""
    names: tuple[str, ...]
    """First names of either gender, matched as written (capitalised)."""

    @classmethod
    def from_dict(cls, data: dict, source: str = "gendered-word list") -> GenderedWords:
        try:
            names = data["names"]
            return cls(
                pronouns=tuple(data["pronouns"]),
                titles=tuple(data["titles"]),
                names=tuple(names["female"]) + tuple(names["male"]),
            )
        except (KeyError, TypeError) as e:
            raise DataError(
                f"{source} needs lists 'pronouns', 'titles' and 'names': {{'female', 'male'}}"
            ) from e

    @functools.cached_property
    def pattern(self) -> re.Pattern:
        def alternatives(words):
            # Longest first, so "Mrs." wins over "Mrs" and "Mr".
            return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))

        pronouns = f"(?i:{alternatives(self.pronouns)})"
        cased = alternatives(self.titles + self.names)
        # A word boundary before; after, no further word character (titles may end in ".").
        word = rf"(?<![\w.])(?:{pronouns}|{cased})(?!\w)"
        # Take the space after the word, else the one before it, else none.
        return re.compile(rf"{word} | {word}|{word}")


@functools.cache
def default_words() -> GenderedWords:
    """The package's lists (`shift/data/gendered_words.json`)."""
    text = resources.files("shift.data").joinpath("gendered_words.json").read_text("utf-8")
    return GenderedWords.from_dict(json.loads(text), "shift/data/gendered_words.json")


def delete_gendered_words(text: str, words: GenderedWords | None = None) -> str:
    """`text` without its pronouns, gendered names and titles (module docstring)."""
    return (words or default_words()).pattern.sub("", text)
