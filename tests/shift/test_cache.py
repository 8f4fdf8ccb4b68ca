"""Stage caching: keys from inputs, resume after a crash, --force, manifests, locks, SIGKILL."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from shift.cache import StageRunner
from shift.manifest import build_manifest


def test_cached_rerun_and_changed_inputs(tmp_path):
    calls = []

    def fn(d):
        calls.append(d)
        (d / "out.txt").write_text("x")
        return {"n": 1}

    runner = StageRunner(root=tmp_path, quiet=True)
    a = runner.run("s", {"x": 1}, fn)
    b = runner.run("s", {"x": 1}, fn)
    assert not a.cached and b.cached and a.dir == b.dir and len(calls) == 1
    assert b.info["n"] == 1
    c = runner.run("s", {"x": 2}, fn)
    assert not c.cached and c.dir != a.dir and len(calls) == 2
    forced = StageRunner(root=tmp_path, quiet=True, force=frozenset({"s"}))
    forced.run("s", {"x": 1}, fn)
    assert len(calls) == 3


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="Linux only")
def test_peak_memory_is_per_stage_and_kept_with_the_cached_stage(tmp_path):
    def big(d):
        block = bytearray(400 * 2**20)  # 400 MiB, touched so that it is resident
        block[::4096] = b"x" * len(block[::4096])
        (d / "out.txt").write_text("x")

    def small(d):
        (d / "out.txt").write_text("y")

    runner = StageRunner(root=tmp_path, quiet=True)
    runner.run("big", {}, big)
    runner.run("small", {}, small)
    peaks = runner.peak_rss_mib
    # the high-water mark is reset per stage: the small stage does not inherit the big one's
    assert peaks["big"] >= 400 and peaks["small"] < peaks["big"] - 300
    again = StageRunner(root=tmp_path, quiet=True)
    assert again.run("big", {}, big).cached and again.peak_rss_mib["big"] == peaks["big"]


def test_crashed_stage_resumes_in_same_directory(tmp_path):
    runner = StageRunner(root=tmp_path, quiet=True)

    def crash(d):
        (d / "partial.txt").write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        runner.run("s", {"x": 1}, crash)
    seen = {}

    def resume(d):
        seen["partial"] = (d / "partial.txt").read_text()
        return {}

    st = runner.run("s", {"x": 1}, resume)
    assert seen["partial"] == "half" and (st.dir / "DONE.json").exists()


# --------------------------------------------------------------------------------------------
# manifests and verification


def _write_stage(d):
    (d / "sub").mkdir()
    (d / "rows.json").write_text(json.dumps([{"method": "Original", "acc": 0.75}]))
    (d / "sub" / "ae.pt").write_bytes(bytes(range(256)) * 8)
    return {}


def _snapshot(d):
    return {
        p.relative_to(d).as_posix(): p.read_bytes()
        for p in sorted(d.rglob("*"))
        if p.is_file() and p.name != "DONE.json"
    }


def test_done_json_lists_every_artifact_with_size_and_sha256(tmp_path):
    st = StageRunner(root=tmp_path, quiet=True).run("s", {"x": 1}, _write_stage)
    files = st.info["files"]
    assert sorted(files) == ["rows.json", "sub/ae.pt"]
    for rel, entry in files.items():
        data = (st.dir / rel).read_bytes()
        assert entry["size"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    # Who computed it, and on how many threads (what its seconds depend on).
    import torch

    assert st.info["pid"] == os.getpid() and st.info["torch_threads"] == torch.get_num_threads()


def _truncate(p):
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _garbage_same_size(p):
    mtime = p.stat().st_mtime_ns
    p.write_bytes(b"\x00" * p.stat().st_size)
    # Corruption comes later than the write; within one clock tick the kernel may stamp the same time.
    os.utime(p, ns=(mtime, mtime + 2_000_000_000))


def _append(p):
    p.write_bytes(p.read_bytes() + b"garbage")


CORRUPTIONS = {
    "truncated": _truncate,
    "garbage of the same size": _garbage_same_size,
    "appended": _append,
    "deleted": lambda p: p.unlink(),
}


@pytest.mark.parametrize(
    "artifact, how",
    [
        (artifact, how)
        for artifact in ("rows.json", "sub/ae.pt", "DONE.json")
        for how in sorted(CORRUPTIONS)
        # Without DONE.json a stage is unfinished, and is resumed like a killed one.
        if (artifact, how) != ("DONE.json", "deleted")
    ],
)
def test_corrupt_artifact_is_recomputed_with_a_warning(tmp_path, capfd, artifact, how):
    first = StageRunner(root=tmp_path, quiet=True).run("probes", {"x": 1}, _write_stage)
    good = _snapshot(first.dir)
    CORRUPTIONS[how](first.dir / artifact)
    capfd.readouterr()
    runner = StageRunner(root=tmp_path, quiet=True)
    again = runner.run("probes", {"x": 1}, _write_stage)
    assert not again.cached and runner.rebuilt == ["probes"]
    assert again.dir == first.dir and _snapshot(again.dir) == good
    err = capfd.readouterr().err.strip()
    assert err.startswith("Warning: cached stage 'probes' failed verification") and "\n" not in err
    third = StageRunner(root=tmp_path, quiet=True).run("probes", {"x": 1}, _write_stage)
    assert third.cached


def test_bit_rot_that_keeps_size_and_mtime_needs_verify(tmp_path):
    first = StageRunner(root=tmp_path, quiet=True).run("s", {"x": 1}, _write_stage)
    path = first.dir / "sub" / "ae.pt"
    stat = path.stat()
    data = bytearray(path.read_bytes())
    data[100] ^= 0x01
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert StageRunner(root=tmp_path, quiet=True).run("s", {"x": 1}, _write_stage).cached
    checked = StageRunner(root=tmp_path, quiet=True, verify=True)
    assert not checked.run("s", {"x": 1}, _write_stage).cached
    assert path.read_bytes() == bytes(range(256)) * 8


def test_cache_without_manifest_is_recomputed(tmp_path, capfd):
    st = StageRunner(root=tmp_path, quiet=True).run("s", {"x": 1}, _write_stage)
    (st.dir / "DONE.json").write_text(json.dumps({"stage": "s", "seconds": 1.0}))
    assert not StageRunner(root=tmp_path, quiet=True).run("s", {"x": 1}, _write_stage).cached
    assert "no manifest" in capfd.readouterr().err


# --------------------------------------------------------------------------------------------
# --force, failures, interrupted swaps


def test_failed_force_keeps_the_finished_stage(tmp_path):
    first = StageRunner(root=tmp_path, quiet=True).run("s", {"x": 1}, _write_stage)
    good = _snapshot(first.dir)

    def fails(d):
        (d / "rows.json").write_text("half")
        raise ValueError("out of memory")

    forced = StageRunner(root=tmp_path, quiet=True, force=frozenset({"s"}))
    with pytest.raises(ValueError):
        forced.run("s", {"x": 1}, fails)
    assert _snapshot(first.dir) == good
    assert StageRunner(root=tmp_path, quiet=True).run("s", {"x": 1}, _write_stage).cached
    assert sorted(p.name for p in first.dir.parent.iterdir()) == [first.dir.name]

    def better(d):
        (d / "rows.json").write_text("[]")
        return {}

    rebuilt = forced.run("s", {"x": 1}, better)
    assert not rebuilt.cached and _snapshot(rebuilt.dir) == {"rows.json": b"[]"}
    assert forced.run("s", {"x": 1}, better).cached  # forced once per run, not on every call
    assert sorted(p.name for p in first.dir.parent.iterdir()) == [first.dir.name]


def test_failed_stage_leaves_no_empty_folder(tmp_path):
    def fails(d):
        (d / "nested").mkdir()
        raise ValueError("bad input")

    with pytest.raises(ValueError):
        StageRunner(root=tmp_path, quiet=True).run("s", {"x": 1}, fails)
    assert not (tmp_path / "s").exists()


def test_rebuild_killed_before_its_swap_is_completed(tmp_path):
    st = StageRunner(root=tmp_path, quiet=True).run("s", {"x": 1}, _write_stage)
    new = st.dir.with_name(f".{st.dir.name}.new")
    shutil.copytree(st.dir, new)
    (new / "rows.json").write_text("[]")  # the rebuild's result differs from the old one
    (new / "DONE.json").write_text(json.dumps({"files": build_manifest(new)}))
    again = StageRunner(root=tmp_path, quiet=True).run("s", {"x": 1}, _write_stage)
    assert again.cached and (again.dir / "rows.json").read_text() == "[]"
    assert sorted(p.name for p in st.dir.parent.iterdir()) == [st.dir.name]


def test_partial_rebuild_is_dropped(tmp_path):
    st = StageRunner(root=tmp_path, quiet=True).run("s", {"x": 1}, _write_stage)
    good = _snapshot(st.dir)
    new = st.dir.with_name(f".{st.dir.name}.new")
    new.mkdir()
    (new / "rows.json").write_text("half")
    again = StageRunner(root=tmp_path, quiet=True).run("s", {"x": 1}, _write_stage)
    assert again.cached and _snapshot(again.dir) == good
    assert sorted(p.name for p in st.dir.parent.iterdir()) == [st.dir.name]


def test_rebuild_killed_between_its_renames_is_completed(tmp_path):
    st = StageRunner(root=tmp_path, quiet=True).run("s", {"x": 1}, _write_stage)
    good = _snapshot(st.dir)
    os.replace(st.dir, st.dir.with_name(f".{st.dir.name}.new"))
    again = StageRunner(root=tmp_path, quiet=True).run("s", {"x": 1}, _write_stage)
    assert again.cached and _snapshot(again.dir) == good
    assert sorted(p.name for p in st.dir.parent.iterdir()) == [st.dir.name]


# --------------------------------------------------------------------------------------------
# other processes: SIGKILL inside a stage, two runs at once

WORKER = Path(__file__).with_name("cache_worker.py")


def _worker(root, log, *args):
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(root), str(log), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _manifest(d):
    files = json.loads((d / "DONE.json").read_text())["files"]
    return {rel: (f["size"], f["sha256"]) for rel, f in files.items()}


def _finish(proc, timeout=120):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def _wait_for(path, proc, timeout=120):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "the worker never reached its checkpoint"
        time.sleep(0.05)


def test_sigkill_inside_a_stage_then_rerun_is_bit_identical(tmp_path):
    clean = _finish(_worker(tmp_path / "clean", tmp_path / "clean.log"))

    root, log = tmp_path / "killed", tmp_path / "killed.log"
    victim = _worker(root, log, "--hang-after", 1)
    _wait_for(Path(f"{log}.ready"), victim)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert not list(root.rglob("DONE.json"))

    # The dead run's stage lock must not block the rerun. The rerun resumes after part1, and
    # notices the killed run (so it would hash any finished stage it reused).
    resumed = _finish(_worker(root, log), timeout=60)
    assert not resumed["cached"] and resumed["after_crash"]
    parts = [line.split()[1] for line in log.read_text().splitlines()]
    assert parts == ["part0", "part1", "part2", "part3"]  # each part computed once
    a, b = Path(clean["dir"]), Path(resumed["dir"])
    assert a.name == b.name and _snapshot(a) == _snapshot(b)
    assert _manifest(a) == _manifest(b)
    assert not any(p.name.endswith(".tmp") for p in b.rglob("*"))
    # The next run finds no killed run any more.
    assert _finish(_worker(root, log)) == {**resumed, "cached": True, "after_crash": False}


def test_two_runs_started_together_compute_the_stage_once(tmp_path):
    root, log = tmp_path / "stages", tmp_path / "work.log"
    procs = [_worker(root, log, "--seconds", 0.5) for _ in range(2)]
    results = [_finish(p) for p in procs]
    assert len(log.read_text().splitlines()) == 4  # four parts, computed by one process
    assert sorted(r["cached"] for r in results) == [False, True]
    assert results[0]["dir"] == results[1]["dir"]


def test_stage_lock_waits_for_the_holder_then_reuses(tmp_path):
    """In-process view of the lock: a holder inside the stage makes a second runner wait."""
    from filelock import FileLock

    first = StageRunner(root=tmp_path, quiet=True)
    key_dir = first.run("s", {"x": 1}, _write_stage).dir
    lock = FileLock(tmp_path / ".locks" / f"s-{key_dir.name}.lock")
    lock.acquire()
    done = threading.Event()

    def second():
        StageRunner(root=tmp_path, quiet=True).run("s", {"x": 1}, _write_stage)
        done.set()

    t = threading.Thread(target=second)
    t.start()
    assert not done.wait(0.5)  # blocked while the lock is held
    lock.release()
    assert done.wait(30)
    t.join()


def test_times_of_one_stage_name_add_up_whether_computed_or_cached(tmp_path):
    """A stage name run for several inputs (a study's SAEs) reports the sum of their times."""
    import time

    def slow(d):
        time.sleep(0.2)
        (d / "out.txt").write_text("x")

    first = StageRunner(root=tmp_path, quiet=True)
    for x in range(3):
        first.run("s", {"x": x}, slow)
    assert first.timings["s"] >= 0.6
    computed = first.timings["s"]
    first.run("s", {"x": 0}, slow)  # asked for again: counted once
    assert first.timings["s"] == computed
    again = StageRunner(root=tmp_path, quiet=True)
    for x in (0, 1, 2, 1):
        again.run("s", {"x": x}, slow)
    assert again.cached == ["s"] * 4
    assert again.timings["s"] == pytest.approx(first.timings["s"], abs=0.01)
