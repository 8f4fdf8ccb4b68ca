"""Content hashes of files and folders, for cache keys that name what an input holds.

A cached result must be found again for the same input and never for another one. A key made of a
path and a modification time fails both ways: a model copied in with its times preserved (`cp -p`,
`rsync -t`) reuses results computed on the old one, and an identical copy elsewhere recomputes
everything. Keys therefore name the SHA-256 of the bytes:

- a file's digest is `sha256(bytes)`;
- a folder's digest is the SHA-256 of its files' relative paths and digests, in path order, so a
  renamed, added or removed file changes it; hidden entries (`.cache`, `.locks`, scratch files of
  killed writers) are not part of the content.

Hashing reads every byte (about 1 s per GB), so each file's digest is computed once per version of
the file and remembered in `$SHIFT_HOME/hashes/`, under a key of its resolved path, size,
modification time, status-change time and inode. The status-change time and the inode cannot be
carried over by a copy, so a file replaced in any way is hashed again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

from ssae.io import shift_home, stable_hash, write_json

PREFIX = "sha256:"
"""Digests returned here start with it, so a key says what kind of identity it holds."""

_memo: dict[str, str] = {}  # version key -> digest, for this process


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, computed once per version of the file (see module doc)."""
    path = Path(path)
    key = _version_key(path)
    if key in _memo:
        return _memo[key]
    record = _record_path(key)
    try:
        digest = json.loads(record.read_text())["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        with open(path, "rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        _store(record, path, digest)
    _memo[key] = digest
    return digest


def remember(path: str | os.PathLike, sha256: str) -> None:
    """Record the digest of a file whose bytes were just checked against it (a verified world's
    manifest), so that keys over it need not read it again."""
    path = Path(path)
    key = _version_key(path)
    _memo[key] = sha256
    _store(_record_path(key), path, sha256)


def content_hash(path: str | os.PathLike, only: Iterable[str] | None = None) -> str:
    """`sha256:<hex>` of a file, or of a folder's files (see the module docstring).

    `only` restricts a folder to these relative sub-paths (files or folders below it), e.g. the
    run folders of an SAE set that a stage reads out of a repository holding more."""
    path = Path(path)
    if not path.is_dir():
        return PREFIX + file_sha256(path)
    h = hashlib.sha256()
    for rel, file in folder_files(path, only):
        h.update(rel.encode("utf-8", "surrogatepass") + b"\0")
        h.update(file_sha256(file).encode() + b"\n")
    return PREFIX + h.hexdigest()


def folder_files(folder: Path, only: Iterable[str] | None = None) -> list[tuple[str, Path]]:
    """(relative POSIX path, path) of every non-hidden file below `folder` (symlinks followed),
    in path order; with `only`, just those at or below the given relative paths."""
    roots = [folder / rel for rel in only] if only is not None else [folder]
    out = {}
    for root in roots:
        candidates = [root] if root.is_file() else sorted(root.rglob("*"))
        for file in candidates:
            rel = file.relative_to(folder)
            if file.is_file() and not any(part.startswith(".") for part in rel.parts):
                out[rel.as_posix()] = file
    return sorted(out.items())


def source_key(source: str | os.PathLike) -> str:
    """What identifies an input given as a local path or a hub id: the content hash of a path
    that exists here, else the id itself (the hub revision is added where it is known)."""
    path = Path(source).expanduser()
    return content_hash(path) if path.exists() else str(source)


def _version_key(path: Path) -> str:
    real = path.resolve()
    st = real.stat()
    return stable_hash(
        [str(real), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev], 32
    )


def _record_path(key: str) -> Path:
    return shift_home() / "hashes" / key[:2] / f"{key}.json"


def _store(record: Path, path: Path, digest: str) -> None:
    try:
        write_json(record, {"path": str(path.resolve()), "sha256": digest})
    except OSError:
        pass  # an unwritable cache only costs a second hash in the next process
