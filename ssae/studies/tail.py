"""Does an SAE capture a subdomain's tail? (SSAE paper, Sec. 3.2.)

Token frequencies come from the subdomain's own text. With c(t) the count of token t there:
- frequency buckets: bucket b holds the tokens with 2^b <= c(t) < 2^(b+1) (tokens the subdomain
  never uses are in no bucket);
- logit-lens coverage of a bucket: the share of its tokens that are among some feature's top-k
  logit-lens tokens (ssae.lens; k = 10 in the paper), over the features that fire at all;
- the cumulative coverage curve: tokens by decreasing c(t) (rank 1 = most frequent), the number of
  covered tokens among the first r divided by the model's total number of covered tokens, so every
  model's curve ends at 1 and its shape shows WHERE in the frequency spectrum its coverage lies;
- feature activation counts by rank: tokens each feature fires on, in decreasing order;
- activation-count ratios log2((M_j + 1) / (B_j + 1)) between feature j of a specialised SAE (M)
  and of the baseline finetuned from the same general SAE on general data (B): features finetuned
  from one parent keep their index, so a ratio > 0 is a feature the subdomain data made commoner.

Planted concepts (a generated world knows its subdomain's tail concepts): feature j detects concept
c with precision h_jc / n_j and recall h_jc / n_c (h_jc: the concept's tokens j fires on, n_j: all
tokens j fires on, n_c: the concept's tokens), F1_jc = 2 h_jc / (n_j + n_c); the concept is
recalled when max_j F1_jc reaches a threshold. Its logit-lens recall asks whether a form that is a
single token is among some live feature's top-k logit-lens tokens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from ssae.errors import ConfigError
from ssae.studies.data import Concept
from ssae.studies.stats import DictStats


def token_counts(token_ids: torch.Tensor, vocab_size: int) -> np.ndarray:
    """c(t) for every token id t < vocab_size."""
    return np.bincount(token_ids.cpu().numpy().astype(np.int64), minlength=vocab_size)


def frequency_buckets(counts: np.ndarray) -> list[dict]:
    """Tokens grouped by count into [2^b, 2^(b+1)), most frequent bucket last."""
    used = np.flatnonzero(counts > 0)
    if used.size == 0:
        return []
    b = np.floor(np.log2(counts[used])).astype(int)
    return [
        {"lo": 2**k, "hi": 2 ** (k + 1), "tokens": used[b == k]}
        for k in range(int(b.max()) + 1)
        if np.any(b == k)
    ]


def covered_tokens(top_ids: torch.Tensor) -> np.ndarray:
    """The distinct tokens among the logit-lens tokens [n_features, k] of a dictionary."""
    return np.unique(top_ids.cpu().numpy().reshape(-1))


def lens_coverage(covered: np.ndarray, buckets: Sequence[dict]) -> list[dict]:
    """Per bucket: its size, how many of its tokens are covered, and the share."""
    out = []
    for bk in buckets:
        n_cov = int(np.isin(bk["tokens"], covered).sum())
        n = int(len(bk["tokens"]))
        out.append(
            {"lo": bk["lo"], "hi": bk["hi"], "n_tokens": n, "covered": n_cov, "share": n_cov / n}
        )
    return out


def cumulative_coverage(covered: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Covered tokens among the r most frequent, / all covered tokens, for r = 1..n_used."""
    used = np.flatnonzero(counts > 0)
    order = used[np.lexsort((used, -counts[used]))]  # decreasing count, ties by id
    hit = np.isin(order, covered).astype(float)
    total = hit.sum()
    return np.cumsum(hit) / total if total > 0 else np.zeros_like(hit)


def counts_by_rank(counts: torch.Tensor) -> np.ndarray:
    """Feature activation counts in decreasing order."""
    return np.sort(counts.cpu().numpy())[::-1].copy()


def log_ratios(special: torch.Tensor, baseline: torch.Tensor) -> np.ndarray:
    """log2((M_j + 1) / (B_j + 1)) per feature j of two SAEs finetuned from one parent."""
    if special.shape != baseline.shape:
        raise ConfigError(
            f"activation counts of {special.numel()} and {baseline.numel()} features: the ratio "
            "needs two SAEs with the same features (finetuned from one general SAE)"
        )
    m, b = special.double().cpu().numpy(), baseline.double().cpu().numpy()
    return np.log2((m + 1) / (b + 1))


def histogram(values: np.ndarray, bins: int | Sequence[float] = 30) -> dict:
    counts, edges = np.histogram(np.asarray(values, dtype=float), bins=bins)
    return {"edges": edges.tolist(), "counts": counts.tolist()}


def concept_recall(
    stats: DictStats, concept_sizes: Mapping[str, int], threshold: float = 0.5
) -> dict[str, dict]:
    """Per concept: the feature with the best F1 at detecting its tokens, and whether that F1
    reaches `threshold` (see module docstring)."""
    out = {}
    n_j = stats.counts.double()
    for c, n_c in concept_sizes.items():
        if n_c == 0:
            out[c] = {"n_tokens": 0, "best_f1": None, "feature": None, "recalled": None}
            continue
        h = stats.concept_hits[c].double()
        f1 = 2 * h / (n_j + n_c)
        j = int(f1.argmax())
        out[c] = {
            "n_tokens": int(n_c),
            "best_f1": float(f1[j]),
            "feature": j,
            "precision": float(h[j] / n_j[j]) if n_j[j] > 0 else 0.0,
            "recall": float(h[j] / n_c),
            "recalled": bool(f1[j] >= threshold),
        }
    return out


def concept_single_tokens(tokenizer, concept: Concept) -> set[int]:
    """Token ids of the concept's forms that are ONE token, as written mid-sentence (" form") or
    at a start ("form"), lower-case or capitalised. A form split into several tokens has no
    logit-lens token of its own (its first piece is usually a common one)."""
    ids = set()
    unknown = getattr(tokenizer, "unk_token_id", None)
    for form in concept.forms:
        for variant in {form, form.lower(), form[:1].upper() + form[1:]}:
            for text in (variant, " " + variant):
                toks = tokenizer(text, add_special_tokens=False)["input_ids"]
                if len(toks) == 1 and toks[0] != unknown:
                    ids.add(int(toks[0]))
    return ids


def concept_lens_recall(
    covered: np.ndarray, tokenizer, concepts: Sequence[Concept]
) -> dict[str, bool | None]:
    """Per concept: is one of its single-token forms among the covered tokens? (None when no
    form is a single token.)"""
    have = set(covered.tolist())
    out: dict[str, bool | None] = {}
    for c in concepts:
        ids = concept_single_tokens(tokenizer, c)
        out[c.name] = bool(ids & have) if ids else None
    return out
