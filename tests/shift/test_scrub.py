"""Gendered-word deletion: what is deleted, what is kept, and that the lists are data."""

from __future__ import annotations

import pytest

from shift.data.scrub import GenderedWords, default_words, delete_gendered_words
from ssae.errors import DataError


@pytest.mark.parametrize(
    "text, expected",
    [
        ("She is a nurse; her patients love Mary.", "is a nurse; patients love."),
        ("Then she said HE was there.", "Then said was there."),
        ("Ms. Mary Kim runs the ward. Mr. Smith thanked her.", "Kim runs the ward. Smith thanked."),
        ("He lives with his wife and himself.", "lives with wife and."),
        # substrings, other words and lower-case names stay
        (
            "The theme: hershey, others, the mark of Markus.",
            "The theme: hershey, others, the mark of Markus.",
        ),
        ("I am a professor at the university.", "I am a professor at the university."),
    ],
)
def test_deletes_pronouns_names_and_titles(text, expected):
    assert delete_gendered_words(text) == expected


def test_lists_cover_the_built_in_worlds_names():
    """The tiny world's biographies name people from its vocabulary: every name is deleted."""
    from shift.world.vocab import FEMALE_NAMES, MALE_NAMES

    names = set(default_words().names)
    assert set(FEMALE_NAMES) <= names and set(MALE_NAMES) <= names
    assert {"he", "she", "his", "her", "him"} <= set(default_words().pronouns)
    assert {"Mr.", "Mrs.", "Ms."} <= set(default_words().titles)


def test_other_lists_and_bad_lists():
    words = GenderedWords(pronouns=("ze",), titles=("Mx.",), names=("Alex",))
    assert delete_gendered_words("Mx. Alex said ze would.", words) == "said would."
    with pytest.raises(DataError, match="needs lists 'pronouns', 'titles' and 'names'"):
        GenderedWords.from_dict({"pronouns": []})
