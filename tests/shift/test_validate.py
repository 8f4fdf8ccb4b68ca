"""Input checks: every bad value or file gives one line that says what to do, before any work."""

from __future__ import annotations

import math

import pytest
import torch

from shift import validate
from shift.presets import get_preset
from ssae.errors import ToolkitError

SUBMODULES = get_preset("micro").submodule_names


def _one_line(excinfo) -> str:
    text = str(excinfo.value)
    assert "\n" not in text and text
    return text


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, -1.0, "abc", None])
def test_tilt_must_be_finite_and_not_negative(value):
    with pytest.raises(ToolkitError) as e:
        validate.finite("--tilt", value, 0)
    assert _one_line(e).startswith("--tilt must be")


@pytest.mark.parametrize("value", [0, 0.0, 500, 1e9, "2.5"])
def test_finite_values_pass(value):
    assert validate.finite("--tilt", value, 0) == float(value)


@pytest.mark.parametrize("value", [-1, 1.5, True, "3"])
def test_whole_numbers(value):
    with pytest.raises(ToolkitError, match="whole number >= 0"):
        validate.at_least("--seed", value, 0)


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.mark.parametrize("name", ["bogus", "cuda:x", "cpu:0", "gpu", ""])
def test_unknown_device_names(name, no_cuda):
    with pytest.raises(ToolkitError) as e:
        validate.device(name)
    assert "use auto, cpu, cuda or cuda:N" in _one_line(e)


def test_cuda_on_a_machine_without_cuda(no_cuda):
    with pytest.raises(ToolkitError) as e:
        validate.device("cuda")
    assert "no usable CUDA GPU" in _one_line(e) and "--device cpu" in str(e.value)
    assert validate.device("auto") == "cpu" and validate.device("CPU") == "cpu"


def test_cuda_index_beyond_the_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert validate.device("cuda:1") == "cuda:1"
    with pytest.raises(ToolkitError, match=r"has 2 CUDA GPU\(s\), numbered 0..1"):
        validate.device("cuda:2")


def test_out_folder_must_be_writable(tmp_path):
    with pytest.raises(ToolkitError) as e:
        validate.writable_dir("/proc/x/report")
    assert "not a writable folder" in _one_line(e)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ToolkitError, match="is a file, not a folder"):
        validate.writable_dir(tmp_path / "file")
    # A folder the check had to create is removed again: a run that fails later leaves nothing.
    assert validate.writable_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_features_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "features.txt"
    path.write_bytes(b"resid_out_layer2/3\n\xff\xfe\x00junk\n")
    with pytest.raises(ToolkitError) as e:
        validate.feature_ids(path, SUBMODULES, 256)
    assert "is not UTF-8 text (byte 0xff at offset 19)" in _one_line(e)


@pytest.mark.parametrize(
    "text, message",
    [
        ("resid_out_layer2/99999\n", "does not exist; this run's dictionaries have 256 features"),
        ("resid_out_layer9/3\n", "no submodule 'resid_out_layer9' here"),
        ("resid_out_layer2\n", "is not a feature id SUBMODULE/INDEX"),
        ("resid_out_layer2/-1\n", "is not a feature id"),
        ("# only a comment\n\n", "names no features"),
    ],
)
def test_features_file_with_bad_ids(tmp_path, text, message):
    path = tmp_path / "features.txt"
    path.write_text(text)
    with pytest.raises(ToolkitError) as e:
        validate.feature_ids(path, SUBMODULES, 256)
    assert message in _one_line(e)


def test_features_file_parsed(tmp_path):
    path = tmp_path / "features.txt"
    path.write_text("resid_out_layer2/3  # gender\n\nembed/255\n")
    assert validate.feature_ids(path, SUBMODULES, 256) == ["resid_out_layer2/3", "embed/255"]


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"feature": "embed/1", "label": "x"', ":2: not valid JSON"),
        ('["embed/1", "x"]', ':2: expected {"feature"'),
        ('{"feature": "embed/1"}', ':2: expected {"feature"'),
        ('{"feature": "layer9/1", "label": "x"}', "no submodule 'layer9'"),
    ],
)
def test_labels_file_with_bad_lines(tmp_path, line, message):
    path = tmp_path / "labels.jsonl"
    path.write_text('{"feature": "resid_out_layer2/3", "label": "she/her"}\n' + line + "\n")
    with pytest.raises(ToolkitError) as e:
        validate.labels(path, SUBMODULES)
    assert message in _one_line(e)


def test_labels_file_parsed(tmp_path):
    path = tmp_path / "labels.jsonl"
    path.write_text(
        '{"feature": "resid_out_layer2/3", "label": "she/her"}\n\n'
        '{"feature": "mlp_out_layer1/error", "label": "the rest"}\n'
    )
    assert validate.labels(path, SUBMODULES) == {
        "resid_out_layer2/3": "she/her",
        "mlp_out_layer1/error": "the rest",
    }
    path.write_bytes(b'{"feature": "embed/1", "label": "\xe9"}\n')
    with pytest.raises(ToolkitError, match="is not UTF-8 text"):
        validate.labels(path, SUBMODULES)
