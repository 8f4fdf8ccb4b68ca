"""Seed examples: the handful of subdomain texts that retrieval expands.

A seed file is either jsonl (one object per line with a string field `text`) or plain text with one
seed per line. The SSAE paper uses 5 seeds; `pipeline.clean_seeds` keeps the first n.
"""

from __future__ import annotations

import os
from pathlib import Path

from ssae.errors import DataError
from ssae.io import read_jsonl, utf8_lines


def read_seed_file(path: str | os.PathLike) -> list[str]:
    """Seed texts from a jsonl file (field `text`) or a plain-text file (one per line)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"seed file {path} does not exist")
    lines = [line.rstrip("\r\n") for _, line in utf8_lines(path)]
    if not lines:
        raise DataError(f"seed file {path} is empty; put one seed text per line (or jsonl 'text')")
    if path.suffix in (".jsonl", ".json") or lines[0].lstrip().startswith("{"):
        return [row["text"] for row in read_jsonl(path, {"text": str})]
    return [line.strip() for line in lines]
