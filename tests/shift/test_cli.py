"""The `shift` command's error handling: bad input stops at the door with one line, no traceback."""

from __future__ import annotations

import errno
import json

import pytest
import torch

import shift.cache
import shift.world
from shift.cli import main
from tests.shift.bad_inputs import BAD_INPUTS, bad_files


@pytest.fixture
def door(tmp_path, monkeypatch):
    """An empty cache, and no world build or stage allowed: a bad input must stop before both."""
    home = tmp_path / "home"
    monkeypatch.setenv("SHIFT_HOME", str(home))
    monkeypatch.delenv("SHIFT_DEBUG", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    def no_work(*args, **kwargs):
        raise AssertionError("work started before the input was checked")

    monkeypatch.setattr(shift.world, "ensure_world", no_work)
    monkeypatch.setattr(shift.cache.StageRunner, "run", no_work)
    return tmp_path, home


@pytest.mark.parametrize("args, message", BAD_INPUTS)
def test_bad_run_input_stops_before_any_work(door, capsys, args, message):
    tmp_path, home = door
    files = bad_files(tmp_path)
    args = [a.format(**files) for a in args]
    out = tmp_path / "report"
    argv = ["run", "--preset", "micro", "--out", str(out), *args]
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 1, err
    assert err.startswith("Error: ") and message in err, err
    assert "\n" not in err and "Traceback" not in err
    assert not (home / "worlds").exists() and not (home / "stages").exists()
    assert not out.exists()


def test_unwritable_cache_folder(door, monkeypatch, capsys):
    monkeypatch.setenv("SHIFT_HOME", "/proc/shift-cache")
    with pytest.raises(SystemExit):
        main(["run", "--preset", "micro", "--out", str(door[0] / "report")])
    err = capsys.readouterr().err.strip()
    assert "the cache folder SHIFT_HOME /proc/shift-cache is not a writable folder" in err


@pytest.mark.parametrize(
    "error, line",
    [
        (
            OSError(errno.ENOSPC, "No space left on device", "/cache/ae.pt"),
            "Error: /cache/ae.pt: No space left on device (OSError; rerun with shift --debug",
        ),
        (
            json.JSONDecodeError("Expecting value", "{\n", 2),
            "Error: Expecting value: line 2 column 1 (char 2) (JSONDecodeError;",
        ),
        (
            UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
            "Error: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte",
        ),
        (ValueError("a\nmulti-line\nmessage"), "Error: a multi-line message (ValueError;"),
    ],
)
def test_uncaught_user_errors_become_one_line(door, monkeypatch, capsys, error, line):
    import shift.pipeline

    def fails(*args, **kwargs):
        raise error

    monkeypatch.setattr(shift.pipeline, "run_pipeline", fails)
    argv = ["run", "--preset", "micro", "--out", str(door[0] / "r")]
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 1 and err.startswith(line) and "\n" not in err, err
    with pytest.raises(type(error)):
        main(["--debug", *argv])
    monkeypatch.setenv("SHIFT_DEBUG", "1")
    with pytest.raises(type(error)):
        main(argv)


def test_device_option_of_other_commands(door, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["sae", "eval", "--model", "m", "--sae-folder", "s", "--device", "cuda"])
    assert exit_.value.code == 2
    assert "no usable CUDA GPU" in capsys.readouterr().err
