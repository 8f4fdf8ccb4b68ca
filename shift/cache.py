"""The stage cache: cached pipeline stages.

Each stage writes its artifacts into `$SHIFT_HOME/stages/<stage>/<key>/`, where `key` hashes the
stage's inputs (its options and the keys of the stages it depends on). A stage is finished when its
`DONE.json` exists; that marker is written last and atomically, so a run killed mid-stage resumes
inside the same directory (stages whose own writers checkpoint, like SAE training, pick up where they
stopped) and a rerun skips every finished stage. Changing an option changes only the keys of the
stages that depend on it. `force` names stages to recompute.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

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
        return json.loads((self.dir / "DONE.json").read_text())


@dataclass
class StageRunner:
    root: Path = field(default_factory=lambda: shift_home() / "stages")
    """Where stage directories live."""
    force: frozenset[str] = frozenset()
    """Stage names to recompute even when finished."""
    quiet: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds each stage took when it was computed (in this run or the one that cached it)."""
    cached: list[str] = field(default_factory=list)
    """Stages found finished and skipped in this run."""

    def run(self, name: str, inputs: dict[str, Any], fn: Callable[[Path], dict | None]) -> Stage:
        key = stable_hash({"stage": name, "version": ARTIFACT_VERSION, **inputs})
        d = self.root / name / key
        done = d / "DONE.json"
        if done.exists() and name not in self.force:
            # Report what the stage cost when it was computed; `cached` says it was reused.
            self.timings[name] = json.loads(done.read_text()).get("seconds", 0.0)
            self.cached.append(name)
            self._say(f"[{name}] cached ({d})")
            return Stage(name, key, d, cached=True)
        if done.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True, exist_ok=True)
        self._say(f"[{name}] running")
        t0 = time.perf_counter()
        summary = fn(d) or {}
        seconds = time.perf_counter() - t0
        self.timings[name] = self.timings.get(name, 0.0) + seconds
        write_json(done, {"stage": name, "inputs": inputs, "seconds": seconds, **summary})
        self._say(f"[{name}] done in {seconds:.1f}s")
        return Stage(name, key, d, cached=False)

    def _say(self, msg: str) -> None:
        if not self.quiet:
            click.echo(msg, err=True)
