"""Manifests of finished stage folders (and of built worlds): every artifact's size and SHA-256.

A stage's `DONE.json` lists each file it wrote (path relative to the stage folder) with its size in
bytes, its SHA-256 and its modification time. Before a finished stage is reused the manifest is
checked at one of two depths:

- cheap (every read): each file exists with its recorded size; a file whose modification time
  moved since it was written is also hashed, since it was rewritten in place;
- full (`--verify`, and after a run was killed): every file is hashed.

Truncation, deletion, appended garbage and rewrites are caught on every read; a bit flip that
keeps size and time (bit rot) needs the full check.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from pathlib import Path

MARKER = "DONE.json"
"""The stage's completion marker; it holds the manifest, so it is not listed in it."""


def is_scratch(rel: Path) -> bool:
    """Temporary files of `ssae.io`'s atomic writers (`.<name>.<random>.tmp`) left by a killed run."""
    return any(part.startswith(".") and part.endswith(".tmp") for part in rel.parts)


def sha256_file(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def build_manifest(folder: Path, skip: Collection[str] = (MARKER,)) -> dict[str, dict]:
    """{relative path: {size, sha256, mtime_ns}} for every artifact under `folder` but the
    relative paths in `skip` (the file that holds the manifest)."""
    files = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if not path.is_file() or rel.as_posix() in skip or is_scratch(rel):
            continue
        stat = path.stat()
        files[rel.as_posix()] = {
            "size": stat.st_size,
            "sha256": sha256_file(path),
            "mtime_ns": stat.st_mtime_ns,
        }
    return files


def manifest_problem(folder: Path, files: dict[str, dict], full: bool) -> str | None:
    """None when every listed file matches; otherwise what is wrong with the first one that does not."""
    for rel, want in files.items():
        path = folder / rel
        try:
            stat = path.stat()
        except OSError:
            return f"{rel} is missing"
        if stat.st_size != want.get("size"):
            return f"{rel} has {stat.st_size} bytes, expected {want.get('size')}"
        if full or stat.st_mtime_ns != want.get("mtime_ns"):
            try:
                digest = sha256_file(path)
            except OSError as e:
                return f"{rel} is unreadable ({e.strerror})"
            if digest != want.get("sha256"):
                return f"{rel} does not match its SHA-256"
    return None
