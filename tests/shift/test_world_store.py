"""A built world is checked whenever it is opened, and a damaged one is repaired before any use.

The damage tests share one copy of the micro world (in a SHIFT_HOME of their own) and first run
`shift probe` and `shift retrieve` on it intact. Then, per kind of file (corpus, tokenizer,
biographies, model weights): damage the file, rerun the command that reads it, and see one warning
naming the file, the same results, the file's bytes back, and no cache entry written: results
computed on damaged bytes would have been cached under a new key, since keys name the content.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
from pathlib import Path

import pytest

from shift.cache import StageRunner
from shift.cli import main
from shift.world import build, ensure_world
from shift.world.build import WorldPaths
from shift.world.store import FAILED_REPAIR, world_problem
from ssae.errors import DataError

PROBE = ["probe", "--preset", "micro", "--max-per-group", "40"]
RETRIEVE = ["retrieve", "--preset", "micro", "--dataset", "bib", "--method", "bm25"]
RETRIEVE += ["--budget", "3000"]


def copy_world(micro_world: WorldPaths, home: Path) -> WorldPaths:
    """The session's micro world under another SHIFT_HOME, times kept (copy2), so it is intact."""
    root = home / "worlds" / micro_world.root.name
    shutil.copytree(micro_world.root, root)
    return WorldPaths.at(root)


def damage(path: Path, keep_time: bool = False) -> bytes:
    """Flip 16 bytes in the middle of `path` (size kept); `keep_time` also keeps its mtime, as
    bit rot would. Returns the original bytes."""
    original = path.read_bytes()
    st = path.stat()
    middle = len(original) // 2
    flipped = bytes(b ^ 0x5A for b in original[middle : middle + 16])
    path.write_bytes(original[:middle] + flipped + original[middle + 16 :])
    if keep_time:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    return original


def cached_files(home: Path) -> set[str]:
    """Every file of the caches that hold computed results (activations, retrieval, stages)."""
    return {
        str(p.relative_to(home))
        for part in ("activations", "retrieval", "stages")
        for p in (home / part).rglob("*")
        if p.is_file() and ".lock" not in p.name
    }


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("Warning:")]


def results(command: list[str], out: Path) -> object:
    """What a command computed: the probe table's rows, or the retrieved documents."""
    if command[0] == "probe":
        return json.loads((out / "results.json").read_text())["rows"]
    return (out / "selection.jsonl").read_text()


@pytest.fixture(scope="module")
def shared(micro_world, tmp_path_factory):
    """A world copy in its own SHIFT_HOME, and each command's results on it intact."""
    base = tmp_path_factory.mktemp("world-store")
    home = base / "home"
    world = copy_world(micro_world, home)
    mp = pytest.MonkeyPatch()
    mp.setenv("SHIFT_HOME", str(home))
    reference = {}
    for command in (PROBE, RETRIEVE):
        out = base / f"reference-{command[0]}"
        main([*command, "--out", str(out)])
        reference[command[0]] = results(command, out)
    yield {"home": home, "world": world, "base": base, "reference": reference}
    mp.undo()


@pytest.fixture
def world_home(shared, monkeypatch):
    monkeypatch.setenv("SHIFT_HOME", str(shared["home"]))
    assert world_problem(shared["world"], full=True) is None  # intact before each test
    return shared


@pytest.mark.parametrize(
    "rel, command",
    [
        ("corpus.jsonl", RETRIEVE),
        ("model/tokenizer.json", RETRIEVE),
        ("bib/train.parquet", PROBE),
        ("bib/test.parquet", PROBE),
    ],
    ids=["corpus", "tokenizer", "biographies-train", "biographies-test"],
)
def test_a_damaged_data_file_is_rebuilt_before_any_result(world_home, capsys, rel, command):
    home, world = world_home["home"], world_home["world"]
    original = damage(world.root / rel)
    before = cached_files(home)
    out = world_home["base"] / f"{rel.replace('/', '-')}-rerun"
    code, _, err = run_cli([*command, "--out", str(out)], capsys)
    assert code == 0, err
    (warning,) = warnings(err)
    assert f"{rel} does not match its SHA-256; rebuilding it" in warning, warning
    assert (world.root / rel).read_bytes() == original
    assert results(command, out) == world_home["reference"][command[0]]
    assert cached_files(home) == before  # nothing was computed on other bytes
    assert world_problem(world, full=True) is None
    assert json.loads(world.manifest.read_text())["repairs"][-1]["problem"].startswith(rel)


def _record_files(paths, out: Path) -> None:
    """A job beside the LM training: which files of the world exist while it runs."""
    present = sorted(str(f.relative_to(paths.root)) for f in paths.root.rglob("*") if f.is_file())
    out.write_text(json.dumps({"root": str(paths.root), "files": present}))


def test_damaged_weights_are_retrained_identically_with_a_job_beside(
    world_home, micro_world, capsys
):
    """Damaged LM weights make the repair a second build of the whole world from its seed (data
    regenerated, LM retrained), with a job beside the LM training (in a child process, on the
    partly built world: corpus, dataset and tokenizer written, no model yet). It must come out
    byte for byte what the first build wrote, and the probe table must be the intact world's."""
    home, world = world_home["home"], world_home["world"]
    weights = world.model / "model.safetensors"
    original = damage(weights)
    seen = world_home["base"] / "seen.json"
    job = functools.partial(_record_files, out=seen)
    repaired = ensure_world("micro", seed=0, home=home, while_training=job)
    (warning,) = warnings(capsys.readouterr().err)
    assert "model/model.safetensors does not match its SHA-256; rebuilding it" in warning
    beside = json.loads(seen.read_text())
    assert {"corpus.jsonl", "model/tokenizer.json", "bib/test.parquet"} <= set(beside["files"])
    assert "model/model.safetensors" not in beside["files"]
    assert beside["root"] != str(repaired.root)  # the temporary directory, moved into place after
    assert weights.read_bytes() == original
    for rel in json.loads(micro_world.manifest.read_text())["files"]:
        assert (repaired.root / rel).read_bytes() == (micro_world.root / rel).read_bytes(), rel
    ma, mb = micro_world.read_manifest(), repaired.read_manifest()
    for key in ("corpus_sha256", "heldout_sha256", "model_sha256", "eval", "sizes"):
        assert ma[key] == mb[key], key
    # A second open finds the repaired world instead of rebuilding it.
    mtime = repaired.manifest.stat().st_mtime_ns
    assert ensure_world("micro", seed=0, home=home).manifest.stat().st_mtime_ns == mtime

    before = cached_files(home)
    out = world_home["base"] / "weights-rerun"
    code, _, err = run_cli([*PROBE, "--out", str(out)], capsys)
    assert code == 0 and not warnings(err), err
    assert results(PROBE, out) == world_home["reference"]["probe"]
    assert cached_files(home) == before


def test_bit_rot_is_found_by_a_full_check_only(world_home, capsys):
    """A flip that keeps size and modification time passes the check every open makes; the full
    check (`--verify`, or after a killed run) finds and repairs it."""
    world = world_home["world"]
    tokenizer = world.model / "tokenizer.json"
    original = damage(tokenizer, keep_time=True)
    ensure_world("micro", home=world_home["home"])
    assert not warnings(capsys.readouterr().err) and tokenizer.read_bytes() != original
    ensure_world("micro", home=world_home["home"], verify=True)
    (warning,) = warnings(capsys.readouterr().err)
    assert "model/tokenizer.json does not match its SHA-256" in warning
    assert tokenizer.read_bytes() == original


@pytest.fixture
def lone_world(micro_world, tmp_path, monkeypatch):
    """A world copy of its own, for tests that leave it broken."""
    home = tmp_path / "home"
    monkeypatch.setenv("SHIFT_HOME", str(home))
    return home, copy_world(micro_world, home)


def _edit_manifest(world: WorldPaths, edit) -> None:
    manifest = world.read_manifest()
    edit(manifest)
    st = world.manifest.stat()
    world.manifest.write_text(json.dumps(manifest))
    os.utime(world.manifest, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_a_world_from_elsewhere_is_an_error_not_a_silent_rebuild(lone_world, capsys, monkeypatch):
    """Its corpus was generated by another version of the generator (the manifest records other
    bytes): when one of its files is damaged, the rebuild cannot reproduce it. One line, exit 1,
    the damaged world left as it was, no report written; the next open says so at once."""
    home, world = lone_world
    _edit_manifest(world, lambda m: m["files"]["corpus.jsonl"].update(sha256="0" * 64))
    damage(world.bib / "test.parquet")
    damaged = (world.bib / "test.parquet").read_bytes()
    out = home.parent / "report"
    code, _, err = run_cli([*PROBE, "--out", str(out)], capsys)
    assert code == 1
    lines = err.strip().splitlines()
    assert lines[0].startswith("Warning:") and lines[-1].startswith("Error: world micro")
    assert "bib/test.parquet does not match its SHA-256" in lines[-1]
    assert "cannot be rebuilt identically here (the rebuilt corpus.jsonl differs" in lines[-1]
    assert "by another version of the world generator" in lines[-1]
    assert "shift world build --preset micro --seed 0 --force" in lines[-1]
    assert "Traceback" not in err and not out.exists()
    assert (world.bib / "test.parquet").read_bytes() == damaged
    assert (world.root / FAILED_REPAIR).exists()

    def no_rebuild(*args, **kwargs):
        raise AssertionError("rebuilt again")

    monkeypatch.setattr(build, "write_data", no_rebuild)
    with pytest.raises(DataError, match="cannot be rebuilt identically here"):
        ensure_world("micro", home=home)


def test_weights_trained_by_another_torch_are_not_retrained(lone_world, monkeypatch):
    """Retraining reproduces weights only with the torch that trained them: say so at once."""
    home, world = lone_world
    _edit_manifest(world, lambda m: m["built_with"].update(torch="1.0.0"))
    damage(world.model / "model.safetensors")

    def no_training(*args, **kwargs):
        raise AssertionError("trained")

    monkeypatch.setattr(build, "train_model", no_training)
    with pytest.raises(DataError, match=r"its LM was trained with torch 1\.0\.0, this is torch"):
        ensure_world("micro", home=home)


def test_an_unreadable_manifest_is_a_warning_and_a_new_build(lone_world, capsys, monkeypatch):
    home, world = lone_world
    world.manifest.write_text("{ torn")
    built = []
    monkeypatch.setattr(build, "build_world", lambda cfg, seed, paths, job=None: built.append(1))
    ensure_world("micro", home=home)
    assert built == [1]
    (warning,) = warnings(capsys.readouterr().err)
    assert "manifest.json is unreadable; rebuilding it" in warning


def test_world_info_reports_damage(lone_world):
    from click.testing import CliRunner

    from shift.commands.world import world as world_group

    home, world = lone_world
    (world.root / "heldout.jsonl").write_text("short")
    res = CliRunner().invoke(world_group, ["info", "--preset", "micro", "--out", str(home)])
    assert res.exit_code == 0
    assert "damaged: heldout.jsonl has 5 bytes, expected" in res.output


@pytest.mark.parametrize(
    "verify, killed, full", [(False, False, False), (True, False, True), (False, True, True)]
)
def test_run_checks_the_world_in_full_with_verify_or_after_a_killed_run(
    tmp_path, monkeypatch, capsys, verify, killed, full
):
    """`shift run` opens the world with its stages' depth (the open itself is stubbed here)."""
    home = tmp_path / "home"
    monkeypatch.setenv("SHIFT_HOME", str(home))
    if killed:  # a run marker nobody holds: its run was killed
        runs = StageRunner().root / ".runs"
        runs.mkdir(parents=True)
        (runs / "123-dead.run").write_text("")
    seen = []

    def opened(name, while_training=None, verify=False, **kwargs):
        seen.append(verify)
        raise DataError("stop here")

    monkeypatch.setattr("shift.world.ensure_world", opened)
    argv = ["run", "--preset", "micro", "--out", str(tmp_path / "r")]
    code, _, err = run_cli([*argv, "--verify"] if verify else argv, capsys)
    assert code == 1 and "Error: stop here" in err
    assert seen == [full]
