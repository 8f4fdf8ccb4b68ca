"""Template filling with Zipf-weighted word choice.

A template is a sentence with slots such as `{N}`; each slot is filled by a sampler (a function of
the random generator). Words of a list are drawn with Zipf weights, p(rank r) ~ 1 / r^s (r = 1 for the
first word), which gives the heavy-tailed word frequencies of natural text: a few words of a topic are
very common, most are rare.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Callable, Sequence

from ssae.errors import ConfigError

_SLOT = re.compile(r"\{(\w+)\}")
# "a" before a vowel sound becomes "an"; "uni-", "use-", "eu-", "one" start with a consonant sound.
_ARTICLE = re.compile(r"\b([Aa]) (?=[aeiouAEIOU])(?![Uu]ni|[Uu]s[eu]|[Ee]u|[Oo]ne\b)")


class ZipfChoice:
    """Draws items of a list with probability proportional to 1 / rank^s."""

    def __init__(self, items: Sequence[str], s: float):
        if not items:
            raise ConfigError("ZipfChoice needs at least one item")
        self.items = list(items)
        self.cum = list(itertools.accumulate(1.0 / (r + 1) ** s for r in range(len(items))))

    def __call__(self, rng: random.Random) -> str:
        return rng.choices(self.items, cum_weights=self.cum)[0]

    def probabilities(self) -> list[float]:
        total = self.cum[-1]
        prev = [0.0, *self.cum[:-1]]
        return [(c - p) / total for c, p in zip(self.cum, prev)]


Sampler = Callable[[random.Random], str]


def fill(template: str, rng: random.Random, slots: dict[str, Sampler | str], depth: int = 0) -> str:
    """Fill every `{slot}`; a value may itself contain slots (e.g. an employer `{City} Hospital`)."""

    def one(m: re.Match) -> str:
        v = slots[m.group(1)]
        v = v if isinstance(v, str) else v(rng)
        return fill(v, rng, slots, depth + 1) if "{" in v and depth < 3 else v

    return _SLOT.sub(one, template)


def finish(text: str) -> str:
    """Fix indefinite articles and capitalise the first letter."""
    text = _ARTICLE.sub(lambda m: m.group(1) + "n ", text)
    return text[:1].upper() + text[1:]


def fill_distinct(
    template: str,
    rng: random.Random,
    slots: dict[str, Sampler | str],
    key: str,
    pool: Sequence[str],
) -> str:
    """Like `fill`, but the occurrences of `{key}` get distinct items of `pool` ("X and Y")."""
    n = template.count("{" + key + "}")
    picks = iter(rng.sample(list(pool), min(n, len(pool))) if n else [])
    return fill(template, rng, {**slots, key: lambda r: next(picks, None) or r.choice(pool)})
