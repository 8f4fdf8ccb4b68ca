"""The stage cache: pipeline stages whose finished results are checked, locked and never lost.

Each stage writes its artifacts into `$SHIFT_HOME/stages/<stage>/<key>/`, where `key` hashes the
stage's inputs (its options and the keys of the stages it depends on), so changing an option
recomputes only the stages that depend on it.

- Finished: a stage is finished when its `DONE.json` exists. That marker is written last and
  atomically and holds the manifest of every artifact (size, SHA-256; `shift.manifest`). A stage is
  reused only when its manifest checks out (sizes on every read; hashes with `verify` and after a
  killed run); one that fails is rebuilt with a one-line warning naming the stage.
- Resume: a run killed mid-stage leaves the stage folder without `DONE.json`; the rerun computes
  into the same folder, so stages whose writers checkpoint (SAE training) pick up where they
  stopped. A folder left empty by a failed stage is removed.
- Rebuild beside: `force`, and a finished stage that fails its check, are built into
  `.<key>.new/` next to the old folder and swapped in only when complete, so a failed rebuild
  leaves the previous result in place.
- Lock: one `filelock.FileLock` per stage and key (`.locks/`). A second run that needs a stage
  another run is computing waits for it and then reuses the result. The lock is an OS `flock`,
  which the kernel drops when its holder dies, so a killed run never blocks the next one.
- Killed runs: every runner holds a lock on a marker in `.runs/` while it lives and deletes the
  marker when it ends. A marker nobody holds is a run that was killed; the next runner then hashes
  every finished stage it reuses.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
import uuid
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from filelock import FileLock, Timeout

from shift.manifest import MARKER, build_manifest, is_scratch, manifest_problem
from ssae.io import shift_home, stable_hash, write_json

# Part of every stage key: bump it when a stage's artifact format changes, so an old cache is
# recomputed rather than misread.
ARTIFACT_VERSION = 1


@dataclass
class Stage:
    name: str
    key: str
    dir: Path
    cached: bool

    @property
    def info(self) -> dict:
        return json.loads((self.dir / MARKER).read_text())


@contextlib.contextmanager
def peak_rss() -> Iterator[list[float]]:
    """Peak resident memory (MiB) of this process inside the block, appended to the yielded list
    on exit. Linux: the high-water mark is reset on entry (`/proc/self/clear_refs`) and read from
    `/proc/self/status` (VmHWM); where that is not possible the list stays empty."""
    out: list[float] = []
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        yield out
        return
    try:
        yield out
    finally:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                out.append(int(line.split()[1]) / 1024)


@dataclass
class StageRunner:
    root: Path = field(default_factory=lambda: shift_home() / "stages")
    """Where stage directories live."""
    force: frozenset[str] = frozenset()
    """Stage names to recompute even when finished."""
    quiet: bool = False
    """No progress lines (warnings are still printed)."""
    verify: bool = False
    """Hash every artifact of a finished stage before reusing it, not only check its size."""
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds each stage took when it was computed (in this run or the one that cached it),
    summed over the distinct inputs a stage name was run for."""
    peak_rss_mib: dict[str, float] = field(default_factory=dict)
    """Peak resident memory of the process while each stage was computed (`peak_rss`)."""
    cached: list[str] = field(default_factory=list)
    """Stages found finished and skipped in this run."""
    rebuilt: list[str] = field(default_factory=list)
    """Stages whose cached result failed verification and were computed again."""
    after_crash: bool = False
    """Set when a run that used this cache was killed; finished stages are then fully hashed."""
    _forced: set[tuple[str, str]] = field(default_factory=set, init=False, repr=False)
    _timed: set[tuple[str, str]] = field(default_factory=set, init=False, repr=False)
    _session: FileLock | None = field(default=None, init=False, repr=False)

    @property
    def full_check(self) -> bool:
        """Whether what this run reuses is hashed in full: `verify`, or a run on this cache was
        killed. Inputs outside the cache (a built world) are checked with the same depth."""
        self._open_session()
        return self.verify or self.after_crash

    def run(self, name: str, inputs: dict[str, Any], fn: Callable[[Path], dict | None]) -> Stage:
        """The finished stage `name` for `inputs`, computing it with `fn(folder)` when needed."""
        self._open_session()
        key = stable_hash({"stage": name, "version": ARTIFACT_VERSION, **inputs})
        d = self.root / name / key
        with self._stage_lock(name, key):
            _settle_rebuild(d)
            forced = name in self.force and (name, key) not in self._forced
            if (d / MARKER).exists() and not forced:
                problem = self._problem(d)
                if problem is None:
                    # Report what the stage cost when it was computed; `cached` says it was reused.
                    self._account(name, key, d)
                    self.cached.append(name)
                    self._say(f"[{name}] cached ({d})")
                    return Stage(name, key, d, cached=True)
                _warn(f"cached stage '{name}' failed verification ({problem}): recomputing it")
                self.rebuilt.append(name)
            if (d / MARKER).exists():
                self._build_beside(name, d, inputs, fn)
            else:
                if forced and d.exists():
                    shutil.rmtree(d)  # a forced stage starts from scratch, not from a partial run
                self._build_in_place(name, d, inputs, fn)
            if forced:
                self._forced.add((name, key))  # once per run, however often the stage is asked for
            self._account(name, key, d)
        return Stage(name, key, d, cached=False)

    def _account(self, name: str, key: str, d: Path) -> None:
        """Add a finished stage's recorded seconds and peak memory to this run's figures. A name
        run for several inputs (a study's SAEs) adds up, each input once however often asked."""
        if (name, key) in self._timed:
            return
        self._timed.add((name, key))
        info = json.loads((d / MARKER).read_text())
        self.timings[name] = self.timings.get(name, 0.0) + info.get("seconds", 0.0)
        if "peak_rss_mib" in info:
            self.peak_rss_mib[name] = max(self.peak_rss_mib.get(name, 0.0), info["peak_rss_mib"])

    # ----------------------------------------------------------------------------------------
    # building

    def _build_in_place(self, name: str, d: Path, inputs: dict, fn: Callable) -> None:
        d.mkdir(parents=True, exist_ok=True)
        try:
            self._compute(name, d, inputs, fn)
        except BaseException:
            _remove_if_empty(d)
            raise

    def _build_beside(self, name: str, d: Path, inputs: dict, fn: Callable) -> None:
        new = d.with_name(f".{d.name}.new")
        new.mkdir(parents=True)
        try:
            self._compute(name, new, inputs, fn)
        except BaseException:
            shutil.rmtree(new, ignore_errors=True)
            raise
        _swap_in(new, d)

    def _compute(self, name: str, d: Path, inputs: dict, fn: Callable) -> None:
        self._say(f"[{name}] running")
        t0 = time.perf_counter()
        with peak_rss() as peak:
            summary = fn(d) or {}
        seconds = time.perf_counter() - t0
        memory = {"peak_rss_mib": round(peak[0], 1)} if peak else {}
        _remove_scratch(d)
        files = build_manifest(d)
        write_json(
            d / MARKER,
            {
                "stage": name,
                "inputs": inputs,
                "seconds": seconds,
                **memory,
                "pid": os.getpid(),
                "torch_threads": torch_threads(),
                **summary,
                "files": files,
            },
        )
        self._say(f"[{name}] done in {seconds:.1f}s")

    # ----------------------------------------------------------------------------------------
    # checking

    def _problem(self, d: Path) -> str | None:
        try:
            info = json.loads((d / MARKER).read_text())
        except (OSError, ValueError):
            return f"{MARKER} is unreadable"
        files = info.get("files") if isinstance(info, dict) else None
        if not isinstance(files, dict):
            return "it has no manifest of its files (written by an older version)"
        return manifest_problem(d, files, full=self.full_check)

    # ----------------------------------------------------------------------------------------
    # locks

    @contextlib.contextmanager
    def _stage_lock(self, name: str, key: str) -> Iterator[None]:
        locks = self.root / ".locks"
        locks.mkdir(parents=True, exist_ok=True)
        lock = FileLock(locks / f"{name}-{key}.lock", thread_local=False)
        try:
            lock.acquire(blocking=False)
        except Timeout:
            click.echo(f"[{name}] another run is computing this stage; waiting for it", err=True)
            lock.acquire()
        try:
            yield
        finally:
            lock.release()

    def _open_session(self) -> None:
        """Mark this run as alive, and notice runs that were killed (their markers are unheld)."""
        if self._session is not None:
            return
        runs = self.root / ".runs"
        runs.mkdir(parents=True, exist_ok=True)
        # Serialises marker creation against scanning, so no run sees another's marker before
        # its owner holds it.
        with FileLock(runs / ".registry.lock", thread_local=False):
            for marker in sorted(runs.glob("*.run")):
                probe = FileLock(marker, thread_local=False)
                try:
                    probe.acquire(blocking=False)
                except Timeout:
                    continue  # its run is alive
                try:
                    marker.unlink(missing_ok=True)
                    self.after_crash = True
                finally:
                    probe.release()
            session = FileLock(
                runs / f"{os.getpid()}-{uuid.uuid4().hex[:8]}.run", thread_local=False
            )
            session.acquire()
        self._session = session
        weakref.finalize(self, _close_session, session, runs)
        if self.after_crash:
            _warn("an earlier run on this cache was killed: checking cached stages by SHA-256")

    def _say(self, msg: str) -> None:
        if not self.quiet:
            click.echo(msg, err=True)


def torch_threads() -> int | None:
    """torch's intra-op thread count when torch is loaded (the stage's time depends on it)."""
    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch is not None else None


def _close_session(session: FileLock, runs: Path) -> None:
    with FileLock(runs / ".registry.lock", thread_local=False):
        Path(session.lock_file).unlink(missing_ok=True)
        session.release()


def _settle_rebuild(d: Path) -> None:
    """Tidy what a killed rebuild of `d` left; called under the stage's lock, so none is running.

    A complete `.new` folder (its `DONE.json` is written before the swap) is the rebuild's result,
    killed while being swapped in: finish the swap. An incomplete one is dropped, since rebuilds
    start from scratch, and `.old` is always garbage.
    """
    new = d.with_name(f".{d.name}.new")
    if (new / MARKER).exists():
        _swap_in(new, d)
    elif new.exists():
        shutil.rmtree(new, ignore_errors=True)
    shutil.rmtree(d.with_name(f".{d.name}.old"), ignore_errors=True)


def _swap_in(new: Path, d: Path) -> None:
    """Replace `d` by `new`. Two renames: between them `d` is missing and `_settle_rebuild` repairs."""
    old = d.with_name(f".{d.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if d.exists():
        os.replace(d, old)
    os.replace(new, d)
    shutil.rmtree(old, ignore_errors=True)


def _remove_scratch(d: Path) -> None:
    """Temporary files of writers killed in an earlier attempt at this stage."""
    for path in sorted(d.rglob("*"), reverse=True):
        if is_scratch(path.relative_to(d)) and path.exists():
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def _remove_if_empty(d: Path) -> None:
    """Drop a stage folder (and its stage's folder) that a failed stage left without any file."""
    if d.exists() and not any(p.is_file() for p in d.rglob("*")):
        shutil.rmtree(d, ignore_errors=True)
        try:
            d.parent.rmdir()
        except OSError:
            pass  # other keys of the stage live there


def _warn(msg: str) -> None:
    click.echo(f"Warning: {msg}", err=True)
