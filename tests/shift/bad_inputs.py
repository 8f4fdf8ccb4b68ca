"""The bad `shift run` inputs a user can meet, each with the message that must refuse it.

Shared by `tests/shift/test_cli.py` (each refused at the door) and
`benchmarks/bench_bad_inputs.py` (how long a fresh process takes to refuse it).
"""

from __future__ import annotations

from pathlib import Path


def bad_files(folder: Path) -> dict[str, Path]:
    """Input files that must be refused: not UTF-8, an unknown feature id, broken JSON."""
    bad_utf8 = folder / "features-latin1.txt"
    bad_utf8.write_bytes("resid_out_layer2/3  # r\xe9sum\xe9\n".encode("latin-1"))
    bad_id = folder / "features-range.txt"
    bad_id.write_text("resid_out_layer2/99999\n")
    bad_json = folder / "labels.jsonl"
    bad_json.write_text('{"feature": "resid_out_layer2/3", "label": "she"\n')
    return {"bad_utf8": bad_utf8, "bad_id": bad_id, "bad_json": bad_json}


BAD_INPUTS = [
    (["--features", "{bad_utf8}"], "is not UTF-8 text (byte 0xe9 at offset 23)"),
    (["--features", "{bad_id}"], "feature resid_out_layer2/99999 does not exist"),
    (["--labels", "{bad_json}"], ":1: not valid JSON"),
    (["--out", "/proc/x"], "--out /proc/x is not a writable folder"),
    (["--device", "cuda"], "no usable CUDA GPU"),
    (["--device", "bogus"], "--device 'bogus' is not a device"),
    (["--tilt", "nan"], "--tilt must be a finite number >= 0"),
    (["--tilt", "inf"], "--tilt must be a finite number >= 0"),
    (["--tilt", "-1"], "--tilt must be a finite number >= 0"),
    (["--seed", "-3"], "--seed must be a whole number >= 0"),
    (["--retrieval", "grep"], "unknown --retrieval 'grep'"),
    (["--professions", "nurse"], "--professions needs exactly two professions"),
    (["--sae-folder", "./no/such/saes"], "--sae-folder ./no/such/saes: no such file or folder"),
]
"""(arguments with `{file}` placeholders from `bad_files`, part of the one-line error)."""


def bad_arguments(folder: Path) -> list[tuple[list[str], str]]:
    """BAD_INPUTS with their files written to `folder` and the placeholders filled in."""
    files = bad_files(folder)
    return [([a.format(**files) for a in args], message) for args, message in BAD_INPUTS]
