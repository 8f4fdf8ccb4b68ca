"""Token datasets: the on-disk hand-off between retrieval, SAE training/evaluation and probes.

A token dataset is a directory holding
- `tokens.safetensors`: `input_ids` int32 [n_docs, ctx_len] right-padded with `pad_id`, and
  `lengths` int32 [n_docs] (number of real tokens per row, >= 1);
- `meta.json`: `tokenizer` (name or path), `ctx_len`, `pad_id`, `n_docs`, `n_tokens`, `source`
  and optional `doc_ids` (ids of the corpus documents the rows came from).
Each document is cut to its first `ctx_len` tokens (the SSAE paper uses 128).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ssae.errors import DataError
from ssae.io import atomic_dir


@dataclass
class TokenDataset:
    input_ids: torch.Tensor
    """int32 [n_docs, ctx_len], right-padded with `pad_id`."""
    lengths: torch.Tensor
    """int32 [n_docs], real tokens per row."""
    pad_id: int
    tokenizer: str = ""
    source: str = ""
    doc_ids: list | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.input_ids.ndim != 2 or self.lengths.shape != (self.input_ids.shape[0],):
            raise DataError("token dataset needs input_ids [n, ctx] and lengths [n]")

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    @property
    def ctx_len(self) -> int:
        return self.input_ids.shape[1]

    @property
    def n_tokens(self) -> int:
        return int(self.lengths.sum())

    def attention_mask(self, rows: torch.Tensor | slice | None = None) -> torch.Tensor:
        lengths = self.lengths if rows is None else self.lengths[rows]
        return (torch.arange(self.ctx_len)[None, :] < lengths[:, None]).long()

    def batches(
        self, batch_size: int, shuffle: bool = False, seed: int = 0, trim: bool = True
    ) -> Iterator[dict[str, torch.Tensor]]:
        """Yield `{input_ids, attention_mask}` (int64); `trim` drops all-pad trailing columns."""
        order = (
            torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
            if shuffle
            else torch.arange(len(self))
        )
        for start in range(0, len(self), batch_size):
            rows = order[start : start + batch_size]
            ids = self.input_ids[rows].long()
            mask = self.attention_mask(rows)
            if trim:
                width = int(self.lengths[rows].max())
                ids, mask = ids[:, :width], mask[:, :width]
            yield {"input_ids": ids, "attention_mask": mask}

    def subset(self, rows: torch.Tensor | list[int]) -> TokenDataset:
        rows = torch.as_tensor(rows, dtype=torch.long)
        ids = None if self.doc_ids is None else [self.doc_ids[i] for i in rows.tolist()]
        return TokenDataset(
            self.input_ids[rows], self.lengths[rows], self.pad_id, self.tokenizer, self.source, ids
        )

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        with atomic_dir(path) as tmp:
            save_file(
                {
                    "input_ids": self.input_ids.to(torch.int32).contiguous(),
                    "lengths": self.lengths.to(torch.int32).contiguous(),
                },
                str(tmp / "tokens.safetensors"),
            )
            meta = {
                "tokenizer": self.tokenizer,
                "ctx_len": self.ctx_len,
                "pad_id": self.pad_id,
                "n_docs": len(self),
                "n_tokens": self.n_tokens,
                "source": self.source,
                "doc_ids": self.doc_ids,
                **self.extra,
            }
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> TokenDataset:
        """Read a token dataset folder, checking what the rest of the toolkit relies on: integer
        ids >= 0 in a 2-d table, lengths in 1..ctx_len per row, and a readable meta.json."""
        path = Path(path)
        if not (path / "tokens.safetensors").exists() or not (path / "meta.json").exists():
            raise DataError(
                f"{path} is not a token dataset (needs tokens.safetensors and meta.json); "
                "create one with `shift retrieve ... --out DIR`"
            )
        try:
            tensors = load_file(str(path / "tokens.safetensors"))
            meta = json.loads((path / "meta.json").read_text("utf-8"))
        except Exception as e:  # safetensors raises several types on a torn file
            raise DataError(f"token dataset {path} is corrupt ({e}); recreate it") from e
        _check_tables(path, tensors, meta)
        known = {"tokenizer", "ctx_len", "pad_id", "n_docs", "n_tokens", "source", "doc_ids"}
        return cls(
            tensors["input_ids"],
            tensors["lengths"],
            int(meta["pad_id"]),
            meta.get("tokenizer", ""),
            meta.get("source", ""),
            meta.get("doc_ids"),
            {k: v for k, v in meta.items() if k not in known},
        )

    def check_vocabulary(self, vocab_size: int, model: str) -> None:
        """Every token id must exist in the model's vocabulary (an embedding lookup past its end
        is an IndexError deep inside the model)."""
        top = int(self.input_ids.max()) if self.input_ids.numel() else 0
        if top >= vocab_size:
            raise DataError(
                f"token dataset has token id {top} but model {model} has a vocabulary of "
                f"{vocab_size}; it was tokenized for another model"
            )

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        tokenizer,
        ctx_len: int = 128,
        source: str = "",
        doc_ids: list | None = None,
        tokenizer_name: str = "",
        batch_size: int = 1024,
    ) -> TokenDataset:
        """Tokenize documents, each cut to its first `ctx_len` tokens; empty documents are dropped."""
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        rows, lengths, kept = [], [], []
        for start in range(0, len(texts), batch_size):
            chunk = texts[start : start + batch_size]
            enc = tokenizer(chunk, truncation=True, max_length=ctx_len, add_special_tokens=False)
            for j, ids in enumerate(enc["input_ids"]):
                if not ids:
                    continue
                rows.append(ids + [pad_id] * (ctx_len - len(ids)))
                lengths.append(len(ids))
                kept.append(start + j)
        if not rows:
            raise DataError("no non-empty documents to tokenize")
        ids = None if doc_ids is None else [doc_ids[i] for i in kept]
        return cls(
            torch.tensor(rows, dtype=torch.int32),
            torch.tensor(lengths, dtype=torch.int32),
            pad_id,
            tokenizer_name,
            source,
            ids,
        )


def _check_tables(path: Path, tensors: dict, meta: object) -> None:
    """One line naming what is wrong with a token dataset read from `path`."""
    where = f"token dataset {path}"
    pad = meta.get("pad_id") if isinstance(meta, dict) else None
    if isinstance(pad, bool) or not isinstance(pad, int):
        raise DataError(f"{where}: meta.json must be an object with an integer pad_id; recreate it")
    missing = {"input_ids", "lengths"} - set(tensors)
    if missing:
        raise DataError(f"{where}: tokens.safetensors lacks {sorted(missing)}; recreate it")
    ids, lengths = tensors["input_ids"], tensors["lengths"]
    for name, t, ndim in (("input_ids", ids, 2), ("lengths", lengths, 1)):
        if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool or t.ndim != ndim:
            raise DataError(
                f"{where}: {name} must be a {ndim}-d integer tensor, got {t.dtype} "
                f"{tuple(t.shape)}; recreate it"
            )
    if lengths.shape[0] != ids.shape[0] or ids.shape[0] == 0:
        raise DataError(
            f"{where}: {ids.shape[0]} rows of input_ids and {lengths.shape[0]} lengths; "
            "it needs at least one document and one length per row"
        )
    if int(lengths.min()) < 1 or int(lengths.max()) > ids.shape[1]:
        raise DataError(
            f"{where}: lengths must be in 1..{ids.shape[1]} (the row width), got "
            f"{int(lengths.min())}..{int(lengths.max())}; recreate it"
        )
    if int(ids.min()) < 0:
        raise DataError(f"{where}: token ids must be >= 0, got {int(ids.min())}; recreate it")
