"""A subdomain as documents, and where named concepts occur in them.

A study of one subdomain needs a few seed documents (the retrieval queries, and the training data
of the seed-only baseline), validation documents (to pick the best of several training seeds),
in-distribution test documents, and optionally out-of-distribution test documents (the same
subdomain in another register, as the SSAE paper tests arXiv-physics SSAEs on physics instruction
data). A generated world also knows its subdomain's tail concepts: named words with known corpus
frequencies, whose recall an SAE can be scored on.

`split_documents` cuts one list of documents into disjoint named parts, deterministically.
`concept_masks` marks, for each concept, the token positions of a TokenDataset built from the same
texts (`TokenDataset.from_texts`, same tokenizer and ctx_len) that fall inside a whole-word,
case-insensitive mention of one of the concept's surface forms.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from ssae.errors import DataError


@dataclass(frozen=True)
class Concept:
    """A named concept of a subdomain and how it is written."""

    name: str
    """Identifier (e.g. the word itself)."""
    forms: tuple[str, ...]
    """Surface forms; a mention is a whole-word, case-insensitive match of any of them."""
    corpus_docs: int | None = None
    """Documents of the training corpus that mention it, when known (a generated world)."""

    def __post_init__(self):
        if not self.forms or not all(isinstance(f, str) and f.strip() for f in self.forms):
            raise DataError(f"concept {self.name!r} needs at least one non-empty surface form")

    def to_json(self) -> dict:
        return {"name": self.name, "forms": list(self.forms), "corpus_docs": self.corpus_docs}

    @classmethod
    def from_json(cls, d: Mapping) -> Concept:
        return cls(str(d["name"]), tuple(d["forms"]), d.get("corpus_docs"))


def split_documents(
    texts: Sequence[str], sizes: Mapping[str, int], seed: int = 0
) -> dict[str, list[str]]:
    """Disjoint parts of `texts` of the given sizes (in the order of `sizes`), from one seeded
    shuffle; one-line error when there are too few documents."""
    kept = [t for t in texts if isinstance(t, str) and t.strip()]
    need = sum(sizes.values())
    if need > len(kept):
        wanted = ", ".join(f"{k} {v}" for k, v in sizes.items())
        raise DataError(
            f"the subdomain has {len(kept)} non-empty documents but the study needs {need} "
            f"({wanted}); give more documents or lower the sizes"
        )
    order = list(range(len(kept)))
    random.Random(seed).shuffle(order)
    out, start = {}, 0
    for name, n in sizes.items():
        out[name] = [kept[i] for i in order[start : start + n]]
        start += n
    return out


def concept_masks(
    texts: Sequence[str], tokenizer, concepts: Sequence[Concept], ctx_len: int
) -> dict[str, torch.Tensor]:
    """Concept name -> bool [n_docs, ctx_len]: the tokens inside a mention of the concept.

    Rows follow `TokenDataset.from_texts(texts, tokenizer, ctx_len)` (documents without tokens
    are dropped there, and here). A token counts when its character span overlaps a mention."""
    enc = tokenizer(
        list(texts),
        truncation=True,
        max_length=ctx_len,
        add_special_tokens=False,
        return_offsets_mapping=True,
    )
    kept = [i for i, ids in enumerate(enc["input_ids"]) if ids]
    patterns = {
        c.name: re.compile(
            r"\b(?:" + "|".join(re.escape(f) for f in c.forms) + r")\b", flags=re.IGNORECASE
        )
        for c in concepts
    }
    masks = {c.name: torch.zeros(len(kept), ctx_len, dtype=torch.bool) for c in concepts}
    for row, i in enumerate(kept):
        offsets = enc["offset_mapping"][i]
        for name, pattern in patterns.items():
            for m in pattern.finditer(texts[i]):
                for p, (a, b) in enumerate(offsets):
                    if a < m.end() and b > m.start():
                        masks[name][row, p] = True
    return masks
