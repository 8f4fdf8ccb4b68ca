"""Checks of everything a user passes, made before the world is built or any stage runs.

A bad option should cost the user a second, not the minutes of work that precede the stage that
would trip over it, and it should read as one line that says what to do, not as a traceback. Each
function here takes a raw option value and returns the parsed value or raises `ToolkitError` with
such a line: numbers must be finite and in range, a device must exist on this machine, the output
and cache folders must be writable, and the files an option names (`--features`, `--labels`) are
read and parsed in full, including their feature ids against the preset's submodules and widths.

`check_values` covers what needs nothing but the values (called by `RunConfig`);
`check_run` covers devices, folders and files against the preset (called first thing in a run).
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from shift.data.professions import parse_professions
from ssae.errors import DataError, ToolkitError
from ssae.io import shift_home
from ssae.retrieval.config import METHODS

DEVICE_TYPES = ("cpu", "cuda", "mps")
_FEATURE_ID = re.compile(r"^(?P<submodule>[^/\s]+)/(?P<index>\d+)$")


@dataclass(frozen=True)
class CheckedRun:
    """What `check_run` parsed: use these instead of re-reading the options."""

    device: str
    """A torch device that exists here (`auto` resolved)."""
    out: Path
    """The report folder (writable)."""
    features: list[str] | None
    """Feature ids (`SUBMODULE/INDEX`) from the `--features` file, in file order."""
    labels: dict[str, str] | None
    """Human labels from the `--labels` file, by feature id."""


# --------------------------------------------------------------------------------------------
# numbers


def finite(option: str, value: Any, minimum: float | None = None, hint: str = "") -> float:
    """`value` as a float that is finite and >= `minimum`."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ToolkitError(f"{option} must be a number, got {value!r}") from None
    bound = "" if minimum is None else f" >= {minimum:g}"
    if not math.isfinite(number) or (minimum is not None and number < minimum):
        raise ToolkitError(f"{option} must be a finite number{bound}{hint}, got {value!r}")
    return number


def at_least(option: str, value: Any, minimum: int) -> int:
    """`value` as an int >= `minimum`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ToolkitError(f"{option} must be a whole number >= {minimum}, got {value!r}")
    return value


def check_values(values: Mapping[str, Any]) -> None:
    """The numeric options of `shift run` (by option name, those given): finite and in range.
    Checked on the flat options first, so the message names the option, not a nested field."""
    if values.get("tilt") is not None:
        finite("--tilt", values["tilt"], 0, " (0 is ERM; the paper uses 500 and 1e9)")
    for name in ("node_threshold", "edge_threshold"):
        if values.get(name) is not None:
            finite(f"--{name.replace('_', '-')}", values[name], 0)
    for name in ("seed", "sae_seed"):
        if values.get(name) is not None:
            at_least(f"--{name.replace('_', '-')}", values[name], 0)
    if values.get("max_per_group") is not None:
        at_least("--max-per-group", values["max_per_group"], 1)
    if values.get("retrieval") is not None:
        if values["retrieval"] not in METHODS:
            raise ToolkitError(
                f"unknown --retrieval {values['retrieval']!r}; choose one of {', '.join(METHODS)}"
            )


# --------------------------------------------------------------------------------------------
# devices


def device(name: str, option: str = "--device") -> str:
    """A torch device string that works on this machine; `auto` is CUDA when present, else CPU."""
    name = str(name).strip().lower()
    kind, _, index = name.partition(":")
    if name != "auto" and (
        kind not in DEVICE_TYPES or (index and not index.isdigit()) or (kind == "cpu" and index)
    ):
        raise ToolkitError(
            f"{option} {name!r} is not a device: use auto, cpu, cuda or cuda:N (N = GPU number)"
        )
    if name == "cpu":
        return name
    import torch  # lazy: only asking for a GPU needs it, and it takes seconds to import

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ToolkitError(
                f"{option} {name}: this machine has no usable CUDA GPU (or torch was built "
                "without CUDA); use --device cpu or auto"
            )
        count = torch.cuda.device_count()
        if index and int(index) >= count:
            raise ToolkitError(
                f"{option} {name}: this machine has {count} CUDA GPU(s), numbered 0..{count - 1}"
            )
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ToolkitError(f"{option} mps: Apple's MPS backend is not available; use cpu or auto")
    return name


class DeviceParam(click.ParamType):
    """A click option type for `--device` that fails at parse time with `device`'s message."""

    name = "device"

    def convert(self, value, param, ctx):
        if value is None:
            return None
        try:
            return device(value)
        except ToolkitError as e:
            self.fail(str(e).removeprefix("--device "), param, ctx)


# --------------------------------------------------------------------------------------------
# folders


def writable_dir(path: str | os.PathLike, option: str = "--out") -> Path:
    """`path` as a folder this process can create files in; folders created for the check are
    removed again, so a run that stops later leaves nothing behind."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise ToolkitError(f"{option} {path} is a file, not a folder: pass a folder path")
    missing = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise ToolkitError(
            f"{option} {path} is not a writable folder ({reason}): pass a folder you can write to"
        ) from None
    finally:
        for created in missing:  # deepest first
            try:
                created.rmdir()
            except OSError:
                break
    return path


# --------------------------------------------------------------------------------------------
# files


def read_text(path: str | os.PathLike, option: str) -> str:
    """The whole file as UTF-8 text, or a one-line error naming the option and what is wrong."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ToolkitError(f"{option} {path}: no such file") from None
    except IsADirectoryError:
        raise ToolkitError(f"{option} {path} is a folder: pass a file") from None
    except OSError as e:
        raise ToolkitError(f"{option} {path} cannot be read ({e.strerror})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(
            f"{option} {path} is not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}): "
            "save it as UTF-8"
        ) from None


def feature_ids(
    path: str | os.PathLike,
    submodules: Sequence[str],
    width: int | None = None,
    option: str = "--features",
) -> list[str]:
    """Feature ids from a file of `SUBMODULE/INDEX` lines (`#` starts a comment)."""
    ids = []
    for lineno, raw in enumerate(read_text(path, option).splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if line:
            ids.append(_feature_id(line, submodules, width, f"{option} {path}:{lineno}"))
    if not ids:
        raise DataError(
            f"{option} {path} names no features: write one SUBMODULE/INDEX per line, "
            "e.g. resid_out_layer3/117"
        )
    return ids


def _feature_id(text: str, submodules: Sequence[str], width: int | None, where: str) -> str:
    match = _FEATURE_ID.match(text)
    if match is None:
        raise DataError(f"{where}: {text!r} is not a feature id SUBMODULE/INDEX (e.g. embed/12)")
    if match["submodule"] not in submodules:
        raise DataError(
            f"{where}: no submodule {match['submodule']!r} here; "
            f"use one of {', '.join(submodules) or '(none)'}"
        )
    if width is not None and int(match["index"]) >= width:
        raise DataError(
            f"{where}: feature {text} does not exist; this run's dictionaries have {width} "
            f"features (indices 0..{width - 1})"
        )
    return text


def labels(
    path: str | os.PathLike, submodules: Sequence[str], option: str = "--labels"
) -> dict[str, str]:
    """Human feature labels from JSONL lines `{"feature": "SUBMODULE/INDEX", "label": "..."}`;
    `SUBMODULE/error` labels an error node."""
    out = {}
    for lineno, line in enumerate(read_text(path, option).splitlines(), 1):
        if not line.strip():
            continue
        where = f"{option} {path}:{lineno}"
        try:
            row = json.loads(line)
        except ValueError as e:
            raise DataError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(row, dict) or not isinstance(row.get("label"), str):
            raise DataError(f'{where}: expected {{"feature": "SUBMODULE/INDEX", "label": "..."}}')
        feature = str(row.get("feature", ""))
        sub, _, index = feature.rpartition("/")
        if index != "error":
            _feature_id(feature, submodules, None, where)
        elif sub not in submodules:
            _feature_id(f"{sub}/0", submodules, None, where)
        out[feature] = row["label"]
    return out


# --------------------------------------------------------------------------------------------
# dictionaries, token datasets, corpora


def model_width(model: str | os.PathLike | None) -> int | None:
    """The hidden size a local model folder's config.json records; None for a hub id (known only
    once the model loads) or a folder without a readable one (its load will say why)."""
    if model is None:
        return None
    config = Path(model).expanduser() / "config.json"
    try:
        width = json.loads(config.read_text("utf-8")).get("hidden_size")
    except (OSError, ValueError, AttributeError):
        return None
    return width if isinstance(width, int) and not isinstance(width, bool) else None


def sae_folder(
    path: str | os.PathLike,
    option: str = "--sae-folder",
    names: Sequence[str] | None = None,
    dict_id: str | None = None,
    model: str | os.PathLike | None = None,
) -> dict:
    """A dictionary set's layout, configurations and widths (`ssae.layout.check_set`) for
    `names` (default: every submodule folder it has), checked without reading a weight; the
    widths against `model`'s when it is a local folder. {submodule: DictionaryFiles}."""
    from ssae.layout import check_set, submodule_folders

    path = _folder(path, option, "the folder that holds one folder per submodule (embed, ...)")
    names = list(names) if names is not None else submodule_folders(path)
    if not names:
        raise ToolkitError(
            f"{option} {path} holds no submodule folders (embed, attn_out_layerI, mlp_out_layerI, "
            "resid_out_layerI): pass the root of a dictionary set"
        )
    try:
        return check_set(path, names, dict_id, model_width(model))
    except ToolkitError as e:
        raise ToolkitError(f"{option}: {e}") from None


def token_dataset(path: str | os.PathLike, option: str = "--data"):
    """A token dataset folder, read and checked in full (`ssae.tokens.TokenDataset.load`)."""
    from ssae.tokens import TokenDataset

    path = _folder(path, option, "a token dataset folder (`shift retrieve --out DIR` writes one)")
    try:
        return TokenDataset.load(path)
    except ToolkitError as e:
        raise ToolkitError(f"{option}: {e}") from None


def _folder(path: str | os.PathLike, option: str, wanted: str) -> Path:
    path = Path(path).expanduser()
    if not path.is_dir():
        what = "is a file" if path.exists() else "does not exist"
        raise ToolkitError(f"{option} {path} {what}: pass {wanted}")
    return path


CORPUS_SUFFIXES = (".jsonl", ".json", ".parquet")


def corpus_file(
    path: str | os.PathLike,
    text_field: str = "text",
    option: str = "--corpus",
    suffixes: Sequence[str] = CORPUS_SUFFIXES,
) -> Path:
    """A local corpus whose first document reads: the file exists with a known suffix, it is
    UTF-8 JSON lines with a string `text_field` (or parquet with that column). The rest is read
    line by line when used (`ssae.io.read_jsonl` names the line of a later fault)."""
    path = Path(path).expanduser()
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise ToolkitError(f"{option} {path} {what}: pass a {' or '.join(suffixes)} file")
    if path.suffix not in suffixes:
        raise ToolkitError(
            f"{option} {path}: unknown corpus format {path.suffix or '(no suffix)'}; use "
            f"{' or '.join(suffixes)} with one document per line"
        )
    if path.suffix == ".parquet":
        _parquet_column(path, text_field, option)
        return path
    first = _first_line(path, option)
    try:
        row = json.loads(first)
    except ValueError as e:
        raise DataError(f"{option} {path}:1: not valid JSON ({e})") from None
    if not isinstance(row, dict) or not isinstance(row.get(text_field), str):
        raise DataError(
            f"{option} {path}:1: needs a string field {text_field!r} (one JSON object per "
            "line); name the text field with --text-field"
        )
    return path


def _first_line(path: Path, option: str) -> str:
    """The first non-blank line, decoded as UTF-8, or a one-line error."""
    from ssae.io import utf8_lines

    try:
        return next(line for _, line in utf8_lines(path))
    except StopIteration:
        raise DataError(f"{option} {path} is empty: write one JSON document per line") from None
    except DataError as e:
        raise DataError(f"{option} {e}") from None


def _parquet_column(path: Path, column: str, option: str) -> None:
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
    except Exception as e:  # pyarrow raises several types on a file that is not parquet
        reason = " ".join(str(e).split())[:120]
        raise DataError(f"{option} {path} is not a parquet file ({reason})") from None
    if column not in names:
        raise DataError(f"{option} {path} has no column {column!r} (columns: {names})")


# --------------------------------------------------------------------------------------------
# a whole run


def check_run(cfg: Any, preset: Any) -> CheckedRun:
    """Everything of a `RunConfig` that touches the machine or the disk, against its preset
    (unresolved: nothing here builds the world)."""
    src = cfg.sources
    parse_professions(src.professions)
    out = writable_dir(cfg.out, "--out")
    writable_dir(shift_home(), "the cache folder SHIFT_HOME")
    sources = {
        "--model": src.model,
        "--bib-path": src.bib_path,
        "--sae-folder": src.sae_folder,
        "--corpus": src.corpus,
    }
    for option, value in sources.items():
        local_source(option, value)
    _check_sae_recipe(cfg, preset)
    submodules = preset.submodule_names
    if src.sae_folder is not None and Path(src.sae_folder).expanduser().exists():
        sae_folder(src.sae_folder, "--sae-folder", submodules, preset.sae_subfolder, src.model)
    if src.corpus is not None and Path(src.corpus).expanduser().exists():
        corpus_file(src.corpus)
    features = None
    features_file = cfg.selection.features_file
    if features_file is not None:
        features = feature_ids(features_file, submodules, _width(cfg, preset))
    human = labels(cfg.circuit.labels, submodules) if cfg.circuit.labels is not None else None
    # Last: `auto` and `cuda` import torch, which every check above does without.
    return CheckedRun(device=device(cfg.device), out=out, features=features, labels=human)


def _check_sae_recipe(cfg: Any, preset: Any) -> None:
    """`--arch` and `--sae-seed` choose how the general SAEs are trained: the preset must train
    them and hold a setting for the architecture."""
    edit = cfg.resolved_method.edit
    if edit is None or edit.dictionaries == "neurons":
        return
    trained_here = preset.saes is None
    if not trained_here and (cfg.arch != preset.gsae.arch.name or cfg.sae_seed != 0):
        raise ToolkitError(
            f"--arch/--sae-seed choose how general SAEs are trained, but this run loads them from "
            f"{preset.saes}; drop the options, or use a preset that trains them (--preset tiny)"
        )
    if trained_here:
        preset.gsae_recipe(cfg.arch, cfg.sae_seed)  # a one-line error for an uncalibrated arch


def _width(cfg: Any, preset: Any) -> int | None:
    edit = cfg.resolved_method.edit
    # The neuron skyline's width is the model's, known only once the model is loaded, and the
    # user's own dictionaries' width is read when they load; the skyline stage checks indices
    # against the loaded dictionaries either way.
    if edit is None or edit.dictionaries == "neurons" or cfg.sources.sae_folder is not None:
        return None
    return preset.compress_k if edit.compressed else preset.sae_width


def local_source(option: str, value: str | os.PathLike | None) -> None:
    """A value written as a path (not a hub id) must exist."""
    if value is None:
        return
    text = str(value)
    looks_local = text.startswith(("/", "./", "../", "~")) or text in (".", "..")
    if looks_local and not Path(text).expanduser().exists():
        raise ToolkitError(f"{option} {text}: no such file or folder")
