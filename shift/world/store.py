"""Opening a built world: built on first use, checked every time, repaired when damaged.

Worlds live in `$SHIFT_HOME/worlds/<preset>-seed<seed>/`. A world is built into a temporary folder
and renamed into place (`ssae.io.atomic_dir`), so a killed build leaves nothing half-made; a lock
file serialises builds of one world by concurrent processes. A world is current when its manifest
records the fingerprint of this configuration, seed and generator version, and the list of its
files (`shift.world.build`); otherwise it is built anew.

Every open checks the world's files against that list with the stage cache's policy
(`shift.manifest`): sizes always, the SHA-256 of a file whose modification time moved, and every
file's SHA-256 with `verify` (`--verify`, or after a killed run). Nothing is computed on a world
that fails: it is repaired first, with a one-line warning naming the file.

Repair rebuilds the world beside the damaged one, as cheaply as the damage allows: the data (corpus,
held-out documents, biographies, tokenizer; seconds) is always regenerated, the LM (minutes) is
retrained only when one of its files is damaged, and an intact LM is copied. The rebuilt world
replaces the damaged one only when every file has the SHA-256 the manifest records. A world that
does not come out identical was built elsewhere or with other library versions (its manifest's
`built_with`): that is a one-line error, the damaged world stays untouched, and the failure is
remembered so the next open says so at once instead of rebuilding again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import click

from shift.manifest import manifest_problem
from shift.world import build  # the module: build.build_world is looked up when called
from shift.world.build import WorldPaths, built_with, fingerprint, world_dir, world_files
from shift.world.config import WorldConfig, get_config
from ssae.errors import DataError
from ssae.io import atomic_dir, write_json

FAILED_REPAIR = ".rebuild-failed.json"
"""Written into a world whose rebuild did not reproduce it; not one of the world's files."""


def ensure_world(
    preset: str = "tiny",
    seed: int = 0,
    home: Path | None = None,
    force: bool = False,
    while_training: Callable[[WorldPaths], None] | None = None,
    verify: bool = False,
) -> WorldPaths:
    """The world of `preset` and `seed`, built on first use under `home/worlds`, checked against
    its manifest (every file hashed with `verify`) and repaired when damaged.

    `while_training` (picklable) runs in a child process while the LM trains, when it does
    (`shift.world.build`). `force` builds the world anew whatever is there."""
    cfg = get_config(preset)
    paths = WorldPaths.at(world_dir(preset, seed, home))
    if not force and is_built(paths, cfg, seed) and world_problem(paths, verify) is None:
        return paths
    with _lock(paths.root):
        # Another process may have built or repaired the world while we waited for the lock.
        if not force and is_built(paths, cfg, seed):
            problem = world_problem(paths, verify)
            if problem is not None:
                repair_world(cfg, seed, paths, problem, while_training)
            return paths
        if not force and paths.manifest.exists() and not is_built(paths, cfg, seed):
            _say_if_unreadable(paths, f"world {preset} (seed {seed}) at {paths.root}")
        with atomic_dir(paths.root) as tmp:
            build.build_world(cfg, seed, WorldPaths.at(tmp), while_training)
    return paths


def is_built(paths: WorldPaths, cfg: WorldConfig, seed: int) -> bool:
    """A manifest of this configuration and seed that lists the world's files."""
    if not paths.manifest.exists():
        return False
    try:
        manifest = paths.read_manifest()
    except DataError:
        return False
    return manifest.get("fingerprint") == fingerprint(cfg, seed) and "files" in manifest


def world_problem(paths: WorldPaths, full: bool = False) -> str | None:
    """None when every file of a built world matches its manifest, else what is wrong with the
    first one that does not (sizes always; SHA-256 of every file when `full`, of those whose
    modification time moved otherwise)."""
    return manifest_problem(paths.root, paths.read_manifest()["files"], full)


def repair_world(
    cfg: WorldConfig,
    seed: int,
    paths: WorldPaths,
    problem: str,
    while_training: Callable[[WorldPaths], None] | None = None,
) -> None:
    """Rebuild a damaged world identically, or raise a one-line `DataError` (module docstring)."""
    name = f"world {cfg.preset} (seed {seed}) at {paths.root}"
    failed = paths.root / FAILED_REPAIR
    if failed.exists():
        raise DataError(f"{name}: {problem}, and {_read_failure(failed)}")
    click.echo(f"Warning: {name}: {problem}; rebuilding it", err=True)
    old = paths.read_manifest()
    want = old["files"]
    try:
        with atomic_dir(paths.root) as tmp:
            new = WorldPaths.at(tmp)
            data = build.write_data(cfg, seed, new, {})
            _must_match(new, want, only=_files_under(new.root))
            lm_files = {rel: want[rel] for rel in want if not (new.root / rel).exists()}
            if manifest_problem(paths.root, lm_files, full=True) is None:
                for rel in lm_files:
                    shutil.copy2(paths.root / rel, new.root / rel)
            else:
                _same_torch(old)
                beside = build.start_beside(while_training, new)
                build.train_model(cfg, seed, new, data, {})
                build.join_beside(beside, {})
            _must_match(new, want)
            repairs = [*old.get("repairs", []), {"problem": problem, "at": time.time()}]
            manifest = {**old, "files": world_files(new), "repairs": repairs}
            new.manifest.write_text(json.dumps(manifest, indent=2) + "\n")
    except _NotIdentical as e:
        reason = (
            f"it cannot be rebuilt identically here ({e}; {_provenance(old)}); restore it from "
            f"where it came, or build a new one with `shift world build --preset {cfg.preset} "
            f"--seed {seed} --force`"
        )
        write_json(failed, {"problem": problem, "reason": reason})
        raise DataError(f"{name}: {problem}, and {reason}") from None


class _NotIdentical(Exception):
    """A rebuilt file differs from the manifest's record."""


def _must_match(new: WorldPaths, want: dict, only: set[str] | None = None) -> None:
    """Raise `_NotIdentical` unless the rebuilt files (those in `only`, default all) are the
    manifest's, byte for byte."""
    have = world_files(new)
    for rel in sorted(set(have) | set(want) if only is None else only):
        if rel not in want:
            raise _NotIdentical(f"the rebuild writes {rel}, which the world did not have")
        if rel not in have:
            raise _NotIdentical(f"the rebuild does not write {rel}")
        if have[rel]["sha256"] != want[rel]["sha256"]:
            raise _NotIdentical(f"the rebuilt {rel} differs")


def _files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def _same_torch(manifest: dict) -> None:
    """Retraining reproduces the LM's bytes only with the torch that trained it."""
    was = manifest.get("built_with", {}).get("torch")
    now = built_with()["torch"]
    if was != now:
        raise _NotIdentical(f"its LM was trained with torch {was}, this is torch {now}")


def _provenance(manifest: dict) -> str:
    """What differs between where the world was built and here, as far as the manifest says."""
    was, now = manifest.get("built_with") or {}, built_with()
    differ = [f"{k} {was[k]} there, {now[k]} here" for k in now if k in was and was[k] != now[k]]
    if differ:
        return "it was built with " + ", ".join(differ)
    return "it was built elsewhere or by another version of the world generator"


def _say_if_unreadable(paths: WorldPaths, name: str) -> None:
    """A manifest that exists but cannot be read is damage too (other mismatches are a world of
    another configuration or version, rebuilt without a word)."""
    try:
        paths.read_manifest()
    except DataError:
        click.echo(f"Warning: {name}: {paths.manifest.name} is unreadable; rebuilding it", err=True)


def _read_failure(path: Path) -> str:
    try:
        return json.loads(path.read_text())["reason"]
    except (OSError, ValueError, KeyError, TypeError):
        return "an earlier rebuild did not reproduce it"


@contextlib.contextmanager
def _lock(root: Path) -> Iterator[None]:
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".{root.name}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
