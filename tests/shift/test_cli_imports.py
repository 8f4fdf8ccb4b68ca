"""`shift --help`, every `shift <command> --help` and every bad option that needs no model answer
without importing torch (seconds on 2 cores): checked in fresh interpreters, since this test
process has torch loaded already."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from shift.cli import COMMANDS, cli

ROOT = Path(__file__).resolve().parents[2]


def _python(code: str, *flags: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SHIFT_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    env.pop("SHIFT_DEBUG", None)
    return subprocess.run(
        [sys.executable, *flags, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def test_shift_help_summaries_are_the_commands_own():
    """`shift --help` prints each command's summary from `COMMANDS` without importing it; each
    summary is the first paragraph of the command's own help."""
    ctx = click.Context(cli)
    for name, (_, summary) in COMMANDS.items():
        command = cli.get_command(ctx, name)
        assert command is not None and command.name == name
        assert " ".join(command.help.split("\n\n")[0].split()) == summary, name


def test_importing_the_cli_imports_no_torch(tmp_path):
    proc = _python("import shift.cli", "-X", "importtime", home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()}
    assert "shift.cli" in imported
    heavy = sorted(m for m in imported if m.split(".")[0] in ("torch", "transformers", "nnsight"))
    assert not heavy, heavy


def test_help_and_bad_options_import_no_torch(tmp_path):
    bad_utf8 = tmp_path / "features.txt"
    bad_utf8.write_bytes("resid_out_layer2/3 r\xe9sum\xe9\n".encode("latin-1"))
    run = ["run", "--preset", "micro", "--out", str(tmp_path / "report")]
    cases = [
        ["--help"],
        *([name, "--help"] for name in COMMANDS),
        ["sae", "eval", "--help"],
        ["circuit", "compute", "--help"],
        ["run", "--method", "bogus"],
        ["run", "--saes", "dictionaries"],
        [*run, "--tilt", "-1"],
        [*run, "--professions", "nurse"],
        [*run, "--device", "bogus"],
        [*run, "--sae-folder", "./no/such/folder"],
        [*run, "--features", str(bad_utf8)],
        ["run", "--preset", "micro", "--out", "/proc/x"],
        ["bench", "--methods", "gsae,nope", "--preset", "micro"],
        ["sae", "eval", "--model", "m", "--sae-folder", str(tmp_path), "--out", "o.json"],
        ["study", "term", "--domain", "bogus"],
    ]
    code = f"""
import json, sys
from shift.cli import main
codes = []
for argv in {cases!r}:
    try:
        main(argv)
        codes.append(0)
    except SystemExit as e:
        codes.append(e.code)
print(json.dumps({{"codes": codes, "torch": "torch" in sys.modules}}))
"""
    proc = _python(code, home=tmp_path / "home")
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    helps = 3 + len(COMMANDS)
    assert result["codes"][:helps] == [0] * helps
    assert all(c not in (0, None) for c in result["codes"][helps:]), result["codes"]
    assert "Traceback" not in proc.stderr
    assert result["torch"] is False
    assert not (tmp_path / "home" / "worlds").exists()


@pytest.mark.parametrize("module", sorted({m for m, _ in COMMANDS.values()}))
def test_command_modules_import_no_torch(module, tmp_path):
    proc = _python(f"import sys, {module}; print('torch' in sys.modules)", home=tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == "False", proc.stderr[-2000:]
