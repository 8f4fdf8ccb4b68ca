"""Atomic artifact writing and the toolkit's cache directory.

Long stages must never leave half-written files: every writer here writes to a temporary file in
the destination's directory and renames it into place (`os.replace` is atomic on POSIX), so a
killed run leaves either the old artifact or the new one, never a torn one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


def shift_home() -> Path:
    """Root of every cached artifact: `$SHIFT_HOME`, default `~/.cache/shift`."""
    return Path(os.environ.get("SHIFT_HOME", Path.home() / ".cache" / "shift")).expanduser()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success rename it over `path`, else delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        # mkstemp creates 0600; artifacts are meant to be read by people and other tools.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory next to `path`; on success it replaces `path` as a whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    # mkdtemp creates 0700; the folder replaces `path`, so it gets the mode mkdir would give it.
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _umask() -> int:
    """The process umask. Linux reports it; elsewhere it can only be read by setting it, which
    briefly changes it for every thread."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def read_jsonl(
    path: str | os.PathLike,
    required: Mapping[str, type] | None = None,
    max_rows: int | None = None,
) -> list[dict]:
    """The objects of a JSON-lines file, blank lines skipped, at most `max_rows`.

    Every object must have the `required` fields with values of the given types; a missing file,
    a line that is not UTF-8 or not JSON, or a missing field is a one-line `DataError` naming the
    line."""
    from ssae.errors import DataError

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist; pass a .jsonl file with one JSON object per line")
    required = dict(required or {})
    rows = []
    for lineno, line in utf8_lines(path):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{lineno} is not valid JSON ({e.msg})") from e
        if not isinstance(obj, dict):
            raise DataError(f"{path}:{lineno} is not a JSON object")
        for name, kind in required.items():
            if name not in obj or not isinstance(obj[name], kind):
                what = {str: "a string field", int: "an integer field"}.get(kind, "the field")
                raise DataError(f"{path}:{lineno} needs {what} {name!r}")
        rows.append(obj)
        if max_rows is not None and len(rows) >= max_rows:
            break
    return rows


def utf8_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """(line number, line) of every non-blank line of a text file, read lazily; a line that is
    not UTF-8 is a one-line `DataError` naming it (text mode would fail somewhere mid-file with a
    bare UnicodeDecodeError)."""
    from ssae.errors import DataError

    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataError(
                    f"{path}:{lineno}: not UTF-8 text (byte 0x{raw[e.start]:02x} at column "
                    f"{e.start + 1}); save the file as UTF-8"
                ) from None
            if line.strip():
                yield lineno, line


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A Markdown table: `header` cells, then one line per row (cells already formatted)."""
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


# torch is imported where it is used: the stage cache and the command line read and write JSON
# through this module, and should start in a fraction of a second.


def torch_save(obj: Any, path: str | os.PathLike) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def torch_load(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Any:
    """Load a tensor checkpoint without executing code (`weights_only=True`)."""
    import torch

    return torch.load(path, map_location=map_location, weights_only=True)


def stable_hash(obj: Any, length: int = 12) -> str:
    """Short hex digest of a JSON-serialisable object, for cache keys."""
    blob = json.dumps(obj, sort_keys=True, default=_json_default).encode()
    return hashlib.sha256(blob).hexdigest()[:length]


def derived_seed(seed: int, name: str, purpose: str) -> int:
    """A 63-bit seed for one purpose of one named part (e.g. an SAE's initialisation), derived
    from the run seed and the names only: a part's randomness does not depend on which other
    parts exist or in which order they are made."""
    blob = f"{seed}/{name}/{purpose}".encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], "little") >> 1


def _json_default(o: Any) -> Any:
    if isinstance(o, Path):
        return str(o)
    torch = sys.modules.get("torch")  # a tensor can only exist once torch is imported
    if torch is not None and isinstance(o, torch.Tensor):
        return o.tolist()
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
