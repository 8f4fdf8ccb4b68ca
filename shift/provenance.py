"""What a result was computed from, recorded in every results.json and bench.json.

- `world`: the built-in world's model and corpus SHA-256 (from its manifest), or for a model
  given by path or hub id, the source string;
- `preset`: the preset, every value, its sources as named (`world:model`, a hub id or a path);
- `code`: SHA-256 over the toolkit's own source files (ssae, circuits, probes, shift), the git
  commit and whether the tree was dirty (when run from a checkout), the package version;
- `torch`, `blas`, `threads`, `cpu`, `python`: what the numbers' last bits depend on.

`comparable(a, b)` names the first field on which two records disagree among those that change
results (world, preset, code, torch, BLAS): a resumed bench refuses runs whose record differs.
Thread count and CPU model are recorded but not compared: they move only the last bits of a few
float reductions.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import platform
import subprocess
from pathlib import Path
from typing import Any

PACKAGES = ("ssae", "circuits", "probes", "shift")
COMPARED = ("world", "preset", "code.source_sha256", "torch", "blas")
"""Fields of a record that must agree for two results to be merged."""
_ROOT = Path(__file__).resolve().parents[1]


@functools.cache
def source_sha256() -> str:
    """SHA-256 over the toolkit's source (.py, .toml, .json of its packages), path by path."""
    h = hashlib.sha256()
    for pkg in PACKAGES:
        for f in sorted((_ROOT / pkg).rglob("*")):
            if f.suffix in (".py", ".toml", ".json") and "__pycache__" not in f.parts:
                h.update(str(f.relative_to(_ROOT)).encode())
                h.update(f.read_bytes())
    return h.hexdigest()


@functools.cache
def _git() -> dict:
    def run(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args], cwd=_ROOT, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = run("rev-parse", "HEAD")
    if commit is None:
        return {}
    dirty = run("status", "--porcelain", "--", *PACKAGES)
    return {"git_commit": commit, "git_dirty": bool(dirty)}


def _package_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("shift-toolkit")
    except PackageNotFoundError:
        return None


@functools.cache
def _blas() -> str:
    import torch

    config = torch.__config__.show()
    for key in ("BLAS_INFO", "LAPACK_INFO"):
        for part in config.replace("\n", ",").split(","):
            if part.strip().startswith(key + "="):
                return part.strip()
    return "unknown"


@functools.cache
def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def world_record(model_source: str) -> dict:
    """The world's model and corpus SHA-256 when `model_source` is a built world's model."""
    manifest = Path(model_source).parent / "manifest.json"
    if Path(model_source).name == "model" and manifest.exists():
        m = json.loads(manifest.read_text())
        return {
            "name": m.get("preset"),
            "model_sha256": m.get("model_sha256"),
            "corpus_sha256": m.get("corpus_sha256"),
        }
    return {"model": str(model_source)}


def provenance(preset: Any, model_path: str) -> dict:
    """The record of a computation with `preset` (a dataclass, sources as named) on the model
    at `model_path` (the resolved source)."""
    import torch

    return {
        "world": world_record(model_path),
        "preset": json.loads(json.dumps(dataclasses.asdict(preset), default=str)),
        "code": {
            "source_sha256": source_sha256(),
            **_git(),
            "package_version": _package_version(),
        },
        "torch": torch.__version__,
        "blas": _blas(),
        "threads": torch.get_num_threads(),
        "cpu": _cpu(),
        "python": platform.python_version(),
    }


def _get(record: dict, dotted: str):
    for part in dotted.split("."):
        record = record.get(part) if isinstance(record, dict) else None
    return record


def difference(a: dict, b: dict) -> tuple[str, object, object] | None:
    """(dotted field, value in a, value in b) of the first difference between records `a` and
    `b` in a compared field (`COMPARED`), down to the first differing leaf; None if none."""
    for field in COMPARED:
        x, y = _get(a, field), _get(b, field)
        if x != y:
            return _leaf(field, x, y)
    return None


def _leaf(path: str, x, y) -> tuple[str, object, object]:
    if isinstance(x, dict) and isinstance(y, dict):
        for key in sorted(set(x) | set(y)):
            if x.get(key) != y.get(key):
                return _leaf(f"{path}.{key}", x.get(key), y.get(key))
    return path, x, y


def for_run(preset: Any) -> dict:
    """The record a run with `preset` (sources as named) would carry, without running it: its
    world sources are resolved (built if missing) only to read the model's record."""
    return provenance(preset, preset.resolve("model").model)
