"""What a feature card shows, for every feature of an SAE set at once, computed in one pass.

Over the real (non-pad) tokens of a token dataset, for every feature j of every dictionary s of
the set (any architecture: only `Dictionary.encode` and `decoder_directions` are used):

- its top activating tokens: the `pool` largest activations f_{s,j} over all token positions,
  kept as (activation, row, position) so that the card can show the text around each one with the
  active token marked (`contexts`, which drops repeated snippets and keeps the first k);
- its activation frequency: the fraction of tokens with f_{s,j} > 0 (active, as L0 counts);
- its logit-lens tokens: the tokens with the largest logits W_U LN_f(d_j) (`ssae.lens`).

Per dictionary it also records L0, FVU and dead features on the same tokens
(`ssae.evaluate.evaluate_saes` without the spliced passes), which an error node's card shows.

The running top activations are merged batch by batch: each batch contributes its own `pool`
largest values per feature, and the union with the kept ones is cut back to `pool`, so memory is
pool x n_features per dictionary whatever the dataset's size. A feature computed once here serves
every circuit drawn on the same SAEs: the view of a second circuit costs no model pass.

On disk (`save` / `load`, written atomically): `contexts.safetensors` (per dictionary
`<name>.values` [n, pool], `<name>.index` [n, pool] = row * ctx_len + position, `<name>.frequency`
[n], `<name>.lens` [n, k_tokens]), `quality.json`, `meta.json` and the token dataset `tokens/`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import networkx as nx
import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from circuits.annotate import context_text, feature_nodes, label_nodes, show_token
from circuits.runner import frozen
from ssae.activations import read_activations
from ssae.dictionary import Dictionary
from ssae.errors import ConfigError, DataError
from ssae.evaluate import evaluate_saes
from ssae.io import atomic_dir
from ssae.lens import lens_top_tokens
from ssae.models import LoadedModel
from ssae.sae_set import SAESet
from ssae.tokens import TokenDataset

FILES = ("contexts.safetensors", "quality.json", "meta.json")


@dataclass(frozen=True)
class FeatureContextsConfig:
    """How many contexts and logit-lens tokens each feature keeps, and how they are read."""

    k: int = 10
    """Snippets a card shows per feature (the issue's bar: at least 8)."""
    pool: int = 24
    """Top activations kept per feature, so that k distinct snippets survive deduplication."""
    k_tokens: int = 8
    """Logit-lens tokens per feature."""
    before: int = 12
    """Tokens of text shown before the active token."""
    after: int = 4
    """Tokens of text shown after the active token."""
    batch_docs: int = 8
    """Documents per forward pass (the features of a batch are batch x ctx x width floats)."""

    def __post_init__(self):
        if self.k < 1 or self.k_tokens < 1:
            raise ConfigError("feature contexts need k >= 1 and k_tokens >= 1")
        if self.pool < self.k:
            raise ConfigError(f"pool ({self.pool}) must be at least k ({self.k})")
        if self.before < 0 or self.after < 0 or self.batch_docs < 1:
            raise ConfigError("before/after must be >= 0 and batch_docs >= 1")


@dataclass
class FeatureContexts:
    """Top activations, frequency and logit lens of every feature of an SAE set (module doc)."""

    tokens: TokenDataset
    """The tokens the activations were read on."""
    values: dict[str, torch.Tensor]
    """Per dictionary [n_features, pool]: largest activations, descending (-inf: none left)."""
    index: dict[str, torch.Tensor]
    """Per dictionary [n_features, pool]: where each one is, row * ctx_len + position."""
    frequency: dict[str, torch.Tensor]
    """Per dictionary [n_features]: fraction of the real tokens on which the feature is > 0."""
    lens: dict[str, torch.Tensor]
    """Per dictionary [n_features, k_tokens]: logit-lens token ids."""
    quality: dict[str, dict]
    """Per dictionary: `ssae.evaluate` metrics on the same tokens (l0, fvu, dead, ...)."""
    config: FeatureContextsConfig

    @property
    def names(self) -> list[str]:
        return list(self.values)

    def contexts(self, tokenizer, name: str, feature: int) -> list[dict]:
        """Up to k snippets {text with «token», activation} of a feature, largest first; a
        snippet that repeats (boilerplate) counts once."""
        cfg, out, seen = self.config, [], set()
        vals, where = self.values[name][feature].tolist(), self.index[name][feature].tolist()
        for value, flat in zip(vals, where, strict=True):
            if not value > 0 or len(out) == cfg.k:
                break
            row, pos = divmod(int(flat), self.tokens.ctx_len)
            ids = self.tokens.input_ids[row, : int(self.tokens.lengths[row])].tolist()
            text = context_text(tokenizer, ids, pos, cfg.before, cfg.after)
            if text not in seen:
                seen.add(text)
                out.append({"text": text, "activation": float(value)})
        return out

    def lens_tokens(self, tokenizer, name: str, feature: int) -> list[str]:
        return [show_token(tokenizer.decode([t])) for t in self.lens[name][feature].tolist()]

    def save(self, folder: str | os.PathLike) -> Path:
        """Write the folder atomically (a killed write leaves the previous one, or none)."""
        folder = Path(folder)
        tensors = {}
        for name in self.names:
            tensors[f"{name}.values"] = self.values[name].float().contiguous()
            tensors[f"{name}.index"] = self.index[name].long().contiguous()
            tensors[f"{name}.frequency"] = self.frequency[name].float().contiguous()
            tensors[f"{name}.lens"] = self.lens[name].long().contiguous()
        with atomic_dir(folder) as tmp:
            save_file(tensors, str(tmp / "contexts.safetensors"))
            (tmp / "quality.json").write_text(json.dumps(self.quality, indent=1))
            meta = {"names": self.names, "config": asdict(self.config)}
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
            self.tokens.save(tmp / "tokens")
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike) -> FeatureContexts:
        folder = Path(folder)
        missing = [f for f in FILES if not (folder / f).exists()]
        if missing:
            raise DataError(
                f"{folder} is not a feature-contexts folder (missing {', '.join(missing)}); "
                "compute it with circuits.feature_contexts.compute_feature_contexts"
            )
        try:
            tensors = load_file(str(folder / "contexts.safetensors"))
            meta = json.loads((folder / "meta.json").read_text())
            quality = json.loads((folder / "quality.json").read_text())
        except Exception as e:  # safetensors raises several types on a torn file
            raise DataError(
                f"feature contexts in {folder} are corrupt ({e}); recompute them"
            ) from e
        names = meta["names"]
        return cls(
            tokens=TokenDataset.load(folder / "tokens"),
            values={n: tensors[f"{n}.values"] for n in names},
            index={n: tensors[f"{n}.index"] for n in names},
            frequency={n: tensors[f"{n}.frequency"] for n in names},
            lens={n: tensors[f"{n}.lens"] for n in names},
            quality=quality,
            config=FeatureContextsConfig(**meta["config"]),
        )


class _TopActivations:
    """Running `pool` largest activations per feature of one dictionary, and its firing count."""

    def __init__(self, n_features: int, pool: int):
        self.pool = pool
        self.values = torch.full((0, n_features), float("-inf"))
        self.index = torch.zeros((0, n_features), dtype=torch.long)
        self.fired = torch.zeros(n_features, dtype=torch.float64)

    def add(self, f: torch.Tensor, keep: torch.Tensor, flat: torch.Tensor) -> None:
        """f [tokens, n] features of the batch, keep [tokens] real tokens, flat [tokens] indices."""
        f = f.float().cpu().masked_fill(~keep[:, None], float("-inf"))
        self.fired += (f[keep] > 0).sum(0, dtype=torch.float64)
        vals, rows = f.topk(min(self.pool, f.shape[0]), dim=0)
        values = torch.cat([self.values, vals])
        index = torch.cat([self.index, flat[rows]])
        best = values.topk(min(self.pool, values.shape[0]), dim=0).indices
        self.values, self.index = values.gather(0, best), index.gather(0, best)

    def padded(self) -> tuple[torch.Tensor, torch.Tensor]:
        """[n, pool] values and indices (features first), -inf / 0 past the tokens seen."""
        missing = self.pool - self.values.shape[0]
        values, index = self.values, self.index
        if missing > 0:
            values = torch.cat([values, values.new_full((missing, values.shape[1]), -torch.inf)])
            index = torch.cat([index, index.new_zeros((missing, index.shape[1]))])
        return values.T.contiguous(), index.T.contiguous()


@torch.no_grad()
def compute_feature_contexts(
    lm: LoadedModel,
    saes: Mapping[str, Dictionary],
    tokens: TokenDataset,
    config: FeatureContextsConfig | None = None,
    progress: bool = False,
) -> FeatureContexts:
    """Top activations, frequency, logit lens and quality of every feature of `saes` on `tokens`."""
    cfg = config or FeatureContextsConfig()
    saes = SAESet(dict(saes)).with_specs(lm)
    specs = saes.specs
    top = {n: _TopActivations(saes[n].dict_size, cfg.pool) for n in saes}
    n_docs = len(tokens)
    starts = range(0, n_docs, cfg.batch_docs)
    with frozen(lm.model, *saes.values()):
        for start in tqdm(starts, desc="feature contexts", disable=not progress, leave=False):
            rows = torch.arange(start, min(start + cfg.batch_docs, n_docs))
            width = int(tokens.lengths[rows].max())
            mask = tokens.attention_mask(rows)[:, :width]
            batch = {"input_ids": tokens.input_ids[rows, :width].long(), "attention_mask": mask}
            batch = {k: v.to(lm.device) for k, v in batch.items()}
            acts = read_activations(lm, specs, batch)
            flat = (rows[:, None] * tokens.ctx_len + torch.arange(width)[None]).reshape(-1)
            keep = mask.bool().reshape(-1)
            for name, x in acts.items():
                f = saes[name].encode(x)
                top[name].add(f.reshape(-1, f.shape[-1]), keep, flat)
    quality = evaluate_saes(lm, saes, tokens, spliced=False, progress=False)["submodules"]
    values, index, frequency, lens = {}, {}, {}, {}
    for name in saes:
        values[name], index[name] = top[name].padded()
        frequency[name] = (top[name].fired / max(tokens.n_tokens, 1)).float()
        lens[name] = lens_top_tokens(lm, saes[name].decoder_directions, cfg.k_tokens, batch=1024)
    return FeatureContexts(
        tokens=tokens,
        values=values,
        index=index,
        frequency=frequency,
        lens=lens,
        quality={n: dict(quality[n]) for n in saes},
        config=cfg,
    )


def annotate_with_contexts(
    graph: nx.DiGraph,
    contexts: FeatureContexts,
    tokenizer,
    labels: dict[str, str] | str | os.PathLike | None = None,
) -> nx.DiGraph:
    """`circuits.annotate.annotate_circuit` from precomputed feature contexts, with
    no model pass: every feature node gets its `top_tokens`, `contexts` and `frequency`, every
    error node the `fvu` and `l0` of its dictionary on the same tokens (in place)."""
    for _, a in feature_nodes(graph, contexts.names):
        sub, j = a["submodule"], int(a["feature"])
        a["top_tokens"] = contexts.lens_tokens(tokenizer, sub, j)
        a["contexts"] = contexts.contexts(tokenizer, sub, j)
        a["frequency"] = float(contexts.frequency[sub][j])
    for _, a in graph.nodes(data=True):
        if a.get("kind") == "error" and a["submodule"] in contexts.quality:
            quality = contexts.quality[a["submodule"]]
            a["fvu"], a["l0"] = quality.get("fvu"), quality.get("l0")
    tokens = contexts.tokens
    graph.graph["contexts_source"] = {"dataset": tokens.source, "n_tokens": tokens.n_tokens}
    return label_nodes(graph, labels)
