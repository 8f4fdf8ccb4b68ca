"""Where the files of a dictionary set are, found and checked without reading any weights.

A set folder holds one folder per submodule (`embed`, `attn_out_layer{i}`, `mlp_out_layer{i}`,
`resid_out_layer{i}`); each holds one dictionary or several runs (`<dict_id>/`, e.g. `10_32768`),
and a dictionary is `ae.pt` + `config.json` (dictionary_learning) or `cfg.json` +
`sae_weights.safetensors` (SAELens); see `ssae.formats` and `ssae.sae_set`.

`check_set` is what a command runs at its door: every requested submodule has exactly one
dictionary with its weight file, its configuration parses, and the sizes it records (input width
and number of features) are whole numbers that agree with the model's width when that is known.
It reads a few small JSON files, so a wrong folder costs a second, not the minutes of model and
weight loading before the first use; the weights themselves (shapes, dtype, finite values) are
checked when they are read (`ssae.formats`). This module does not import torch.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ssae.errors import CheckpointError

AE_FILE = "ae.pt"
CONFIG_FILE = "config.json"
SAELENS_CFG = "cfg.json"
SAELENS_WEIGHTS = "sae_weights.safetensors"
SET_FILE = "sae_set.json"
SUBMODULE_NAME = re.compile(r"^(embed|(attn_out|mlp_out|resid_out)_layer(\d+))$")
"""A submodule folder's name; groups: the name, its kind and its layer."""


@dataclass(frozen=True)
class DictionaryFiles:
    """One dictionary of a set on disk, with the sizes its configuration records."""

    dir: Path
    """The run folder (or the submodule folder when it holds the dictionary itself)."""
    activation_dim: int | None
    """Input width recorded in its configuration (None when it records none)."""
    dict_size: int | None
    """Number of features recorded in its configuration (None when it records none)."""


def is_dictionary_dir(path: str | os.PathLike) -> bool:
    """True when `path` holds a dictionary in one of the known formats."""
    path = Path(path)
    return (path / AE_FILE).is_file() or (path / SAELENS_CFG).is_file()


def submodule_folders(folder: Path) -> list[str]:
    """Names of the submodule folders in a set folder, sorted by name."""
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and SUBMODULE_NAME.match(p.name))


def run_dir(sub: Path, dict_id: str | None) -> Path:
    """The folder of the dictionary of one submodule folder: `dict_id`'s run, the folder itself,
    or its only run; a one-line `CheckpointError` when there is none or the choice is open."""
    if not sub.is_dir():
        raise CheckpointError(f"{sub} is missing: the SAE set has no dictionary for {sub.name}")
    if dict_id is not None and is_dictionary_dir(sub / dict_id):
        return sub / dict_id
    if is_dictionary_dir(sub):
        return sub
    runs = sorted(p for p in sub.iterdir() if p.is_dir() and is_dictionary_dir(p))
    if dict_id is not None:
        raise CheckpointError(
            f"{sub / dict_id} holds no dictionary; available: {[p.name for p in runs] or 'none'}"
        )
    if len(runs) == 1:
        return runs[0]
    if not runs:
        raise CheckpointError(f"{sub} holds no dictionary (no ae.pt or cfg.json below it)")
    raise CheckpointError(
        f"{sub} holds several dictionaries {[p.name for p in runs]}; choose one with dict_id / --dict-id"
    )


def check_set(
    folder: str | os.PathLike,
    names: list[str],
    dict_id: str | None = None,
    activation_dim: int | None = None,
) -> dict[str, DictionaryFiles]:
    """The dictionary of each submodule in `names` under `folder`, checked as the module
    docstring says; `activation_dim` is the model's width when known."""
    folder = Path(folder)
    if not folder.is_dir():
        what = "is a file" if folder.exists() else "does not exist"
        raise CheckpointError(
            f"SAE folder {folder} {what}: pass the folder that holds one folder per submodule "
            "(embed, attn_out_layer0, ...)"
        )
    if dict_id is None and (folder / SET_FILE).is_file():
        dict_id = read_json_object(folder / SET_FILE).get("dict_id")
    found = {}
    for name in names:
        run = run_dir(folder / name, dict_id)
        files = _sizes(run)
        if activation_dim is not None and files.activation_dim not in (None, activation_dim):
            raise CheckpointError(
                f"{run}: dictionary input width {files.activation_dim} does not match the model's "
                f"width {activation_dim}; use dictionaries trained for this model"
            )
        found[name] = files
    return found


def _sizes(run: Path) -> DictionaryFiles:
    if (run / AE_FILE).is_file():
        config = read_json_object(run / CONFIG_FILE) if (run / CONFIG_FILE).exists() else {}
        section = config.get("trainer") or config.get("dictionary") or {}
        d, n = section.get("activation_dim"), section.get("dict_size")
        where = run / CONFIG_FILE
    else:
        if not (run / SAELENS_WEIGHTS).is_file():
            raise CheckpointError(
                f"{run / SAELENS_WEIGHTS} is missing; a SAELens folder needs {SAELENS_WEIGHTS}"
            )
        config = read_json_object(run / SAELENS_CFG)
        d, n = config.get("d_in"), config.get("d_sae")
        where = run / SAELENS_CFG
    for key, value in (("input width", d), ("number of features", n)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise CheckpointError(f"{where}: the {key} must be a whole number >= 1, got {value!r}")
    return DictionaryFiles(run, d, n)


def read_json_object(file: Path) -> dict:
    """A JSON file that must hold an object; a one-line `CheckpointError` otherwise."""
    try:
        obj = json.loads(file.read_text("utf-8"))
    except (OSError, ValueError) as e:
        reason = " ".join(str(e).split())[:160]
        raise CheckpointError(f"{file} is unreadable or not JSON ({reason})") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{file} must hold a JSON object")
    return obj
