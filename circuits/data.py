"""Batches for a circuit from examples on disk: a JSONL file of examples or a token dataset.

A JSONL example has `text` (required) and optionally `patch` (a contrastive input, for the `patch`
baseline: the two are padded to a common width, positions aligned), `label` (0/1, for a probe
metric) and `correct` / `incorrect` (strings whose first tokens a logit difference compares).
A token dataset folder (`ssae.tokens.TokenDataset`) gives plain token batches, which the `loss`
metric reads.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ssae.errors import DataError
from ssae.io import read_jsonl
from ssae.models import LoadedModel
from ssae.tokens import TokenDataset


def _read_jsonl(path: Path) -> list[dict]:
    rows = read_jsonl(path, {"text": str})
    if not rows:
        raise DataError(f"{path} holds no examples")
    return rows


def _pad_to(t: torch.Tensor, width: int, value: int) -> torch.Tensor:
    if t.shape[1] >= width:
        return t
    pad = torch.full((t.shape[0], width - t.shape[1]), value, dtype=t.dtype, device=t.device)
    return torch.cat([t, pad], dim=1)


def _first_token(lm: LoadedModel, text: str) -> int:
    ids = lm.tokenizer(text, add_special_tokens=False)["input_ids"]
    if not ids:
        raise DataError(f"answer {text!r} has no tokens")
    return int(ids[0])


def jsonl_batches(
    lm: LoadedModel, rows: list[dict], batch_size: int, max_length: int
) -> list[dict]:
    """Batches of a JSONL dataset (see the module docstring for the fields)."""
    pad = lm.tokenizer.pad_token_id or 0
    out = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        enc = lm.tokenize([r["text"] for r in chunk], max_length=max_length)
        batch = {k: v.cpu() for k, v in enc.items()}
        if any("patch" in r for r in chunk):
            if not all("patch" in r for r in chunk):
                raise DataError("either every example has a 'patch' text or none does")
            penc = lm.tokenize([r["patch"] for r in chunk], max_length=max_length)
            width = max(batch["input_ids"].shape[1], penc["input_ids"].shape[1])
            batch["input_ids"] = _pad_to(batch["input_ids"], width, pad)
            batch["attention_mask"] = _pad_to(batch["attention_mask"], width, 0)
            batch["patch_input_ids"] = _pad_to(penc["input_ids"].cpu(), width, pad)
            batch["patch_attention_mask"] = _pad_to(penc["attention_mask"].cpu(), width, 0)
        if all("label" in r for r in chunk):
            batch["labels"] = torch.tensor([int(r["label"]) for r in chunk])
        if all("correct" in r and "incorrect" in r for r in chunk):
            batch["correct_id"] = torch.tensor([_first_token(lm, r["correct"]) for r in chunk])
            batch["incorrect_id"] = torch.tensor([_first_token(lm, r["incorrect"]) for r in chunk])
        out.append(batch)
    return out


def load_batches(
    lm: LoadedModel, data: Path, batch_size: int, max_length: int, max_examples: int | None = None
) -> tuple[list[dict], TokenDataset | list[str]]:
    """(batches, the data `circuits.annotate` reads contexts from) of a JSONL file or a token
    dataset folder, the first `max_examples` examples (None: all)."""
    if data.is_dir():
        ds = TokenDataset.load(data)
        ds.check_vocabulary(lm.model.config.vocab_size, lm.name)
        if max_examples is not None:
            ds = ds.subset(list(range(min(max_examples, len(ds)))))
        return list(ds.batches(batch_size)), ds
    if not data.exists():
        raise DataError(f"data file {data} does not exist")
    rows = _read_jsonl(data)[:max_examples]
    return jsonl_batches(lm, rows, batch_size, max_length), [r["text"] for r in rows]
