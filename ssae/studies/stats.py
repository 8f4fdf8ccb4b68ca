"""Per-token and per-feature statistics of several dictionaries at one submodule, in one pass.

The tail and Tilted-ERM analyses look at the same few quantities of every SAE they compare, on the
same real (non-pad) tokens x_1..x_N of a token dataset. One forward pass per batch reads the
submodule's output (stopping there, ssae.activations), and every dictionary encodes it:

- per token i: the token id, the squared error ||x_i - x_hat_i||^2 and ||x_i||^2, L0, the
  maximum activation max_j f_ij, and the activation entropy H_i = -sum_j p_ij log p_ij of
  p_ij = f_ij / sum_j f_ij (0 when no feature fires): how many features share a token's code;
- per feature j: the number of tokens it fires on (f_ij > 0);
- per named concept c with a position mask (ssae.studies.data.concept_masks): the number of the
  concept's tokens each feature fires on, from which precision and recall of "feature j detects
  concept c" follow.

`TokenStats.save` / `load` keep the result in one safetensors file plus a JSON index.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from ssae.activations import read_activations
from ssae.dictionary import Dictionary
from ssae.errors import DataError
from ssae.io import atomic_path, write_json
from ssae.models import LoadedModel
from ssae.tokens import TokenDataset

_PER_TOKEN = ("sq_error", "x_norm_sq", "l0", "max_act", "entropy")


@dataclass
class DictStats:
    """What one dictionary did on the tokens of a `TokenStats`."""

    counts: torch.Tensor
    """int64 [n_features]: tokens each feature fires on."""
    sq_error: torch.Tensor
    """float [N]: ||x - x_hat||^2 per token."""
    x_norm_sq: torch.Tensor
    """float [N]: ||x||^2 per token."""
    l0: torch.Tensor
    """float [N]: active features per token."""
    max_act: torch.Tensor
    """float [N]: largest activation per token."""
    entropy: torch.Tensor
    """float [N]: entropy (nats) of the token's normalised activations."""
    concept_hits: dict[str, torch.Tensor] = field(default_factory=dict)
    """Concept -> int64 [n_features]: the concept's tokens each feature fires on."""


@dataclass
class TokenStats:
    token_ids: torch.Tensor
    """int64 [N]: the real tokens, in dataset order."""
    concept_sizes: dict[str, int]
    """Concept -> number of its tokens among the N."""
    per_dict: dict[str, DictStats]
    """Dictionary label -> its statistics."""

    def save(self, path: str | os.PathLike) -> None:
        path = Path(path)
        labels = list(self.per_dict)
        tensors = {"token_ids": self.token_ids}
        for i, d in enumerate(self.per_dict.values()):
            tensors[f"{i}.counts"] = d.counts
            tensors |= {f"{i}.{k}": getattr(d, k) for k in _PER_TOKEN}
            tensors |= {f"{i}.hits.{c}": v for c, v in d.concept_hits.items()}
        with atomic_path(path.with_suffix(".safetensors")) as tmp:
            save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp))
        write_json(path.with_suffix(".json"), {"labels": labels, "concepts": self.concept_sizes})

    @classmethod
    def load(cls, path: str | os.PathLike) -> TokenStats:
        path = Path(path)
        index = json.loads(path.with_suffix(".json").read_text())
        t = load_file(str(path.with_suffix(".safetensors")))
        per_dict = {}
        for i, label in enumerate(index["labels"]):
            hits = {c: t[f"{i}.hits.{c}"] for c in index["concepts"]}
            per_dict[label] = DictStats(
                t[f"{i}.counts"], *(t[f"{i}.{k}"] for k in _PER_TOKEN), concept_hits=hits
            )
        return cls(t["token_ids"], dict(index["concepts"]), per_dict)


@torch.no_grad()
def collect_stats(
    lm: LoadedModel,
    submodule: str,
    dictionaries: Mapping[str, Dictionary],
    tokens: TokenDataset,
    concept_masks: Mapping[str, torch.Tensor] | None = None,
    batch_docs: int = 16,
    progress: bool = False,
) -> TokenStats:
    """Statistics of every dictionary on every real token of `tokens` (see module docstring)."""
    if len(tokens) == 0:
        raise DataError("the token dataset is empty; nothing to measure")
    masks = dict(concept_masks or {})
    for name, m in masks.items():
        if m.shape != tuple(tokens.input_ids.shape):
            raise DataError(
                f"concept {name!r}: mask of shape {tuple(m.shape)} does not match the token "
                f"dataset {tuple(tokens.input_ids.shape)}; build both from the same texts"
            )
    spec = lm.submodule(submodule)
    for d in dictionaries.values():
        d.to(lm.device)
    parts: dict[str, dict[str, list]] = {k: {n: [] for n in _PER_TOKEN} for k in dictionaries}
    counts = {k: torch.zeros(d.dict_size, dtype=torch.long) for k, d in dictionaries.items()}
    hits = {k: {c: torch.zeros_like(counts[k]) for c in masks} for k in dictionaries}
    ids = []
    bar = tqdm(total=len(tokens), disable=not progress, desc="feature statistics", unit="doc")
    for start in range(0, len(tokens), batch_docs):
        rows = torch.arange(start, min(start + batch_docs, len(tokens)))
        width = int(tokens.lengths[rows].max())
        batch = {
            "input_ids": tokens.input_ids[rows, :width].long(),
            "attention_mask": tokens.attention_mask(rows)[:, :width],
        }
        keep = batch["attention_mask"].bool()
        x = read_activations(lm, [spec], batch)[submodule][keep.to(lm.device)]
        ids.append(batch["input_ids"][keep])
        in_concept = {c: m[rows, :width][keep] for c, m in masks.items()}
        for label, d in dictionaries.items():
            f = d.encode(x)
            active = f > 0
            total = f.sum(-1, keepdim=True)
            p = f / total.clamp_min(1e-30)
            plogp = torch.where(p > 0, p * p.clamp_min(1e-30).log(), torch.zeros_like(p))
            values = {
                "sq_error": (x - d.decode(f)).pow(2).sum(-1),
                "x_norm_sq": x.pow(2).sum(-1),
                "l0": active.sum(-1).float(),
                "max_act": f.amax(-1),
                "entropy": -plogp.sum(-1),
            }
            for k, v in values.items():
                parts[label][k].append(v.float().cpu())
            active = active.cpu()
            counts[label] += active.sum(0)
            for c, where in in_concept.items():
                hits[label][c] += active[where].sum(0)
        bar.update(len(rows))
    bar.close()
    per_dict = {
        label: DictStats(
            counts[label], *(torch.cat(parts[label][k]) for k in _PER_TOKEN), hits[label]
        )
        for label in dictionaries
    }
    sizes = {c: int(m.sum()) for c, m in masks.items()}
    return TokenStats(torch.cat(ids), sizes, per_dict)
