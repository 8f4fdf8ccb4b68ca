"""Content hashes: what a cache key names instead of a path and a modification time."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from ssae import content
from ssae.content import content_hash, file_sha256, source_key


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SHIFT_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(content, "_memo", {})
    return tmp_path / "home"


def replace_keeping_times(path: Path, data: bytes) -> None:
    """Write new bytes of the same length and put the old modification time back (`cp -p`)."""
    st = path.stat()
    path.write_bytes(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_a_file_is_named_by_its_bytes(tmp_path):
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"weights" * 100)
    shutil.copy2(a, b)
    assert file_sha256(a) == hashlib.sha256(b"weights" * 100).hexdigest()
    assert content_hash(a) == content_hash(b) == "sha256:" + file_sha256(a)
    replace_keeping_times(a, b"WEIGHTS" * 100)  # same size, same time: a path+mtime key is fooled
    assert content_hash(a) != content_hash(b)
    assert file_sha256(a) == hashlib.sha256(b"WEIGHTS" * 100).hexdigest()


def test_each_version_is_hashed_once_and_remembered_across_processes(tmp_path, monkeypatch):
    f = tmp_path / "corpus.jsonl"
    f.write_text('{"text": "a"}\n')
    reads = []
    real = hashlib.file_digest
    monkeypatch.setattr(hashlib, "file_digest", lambda fh, name: reads.append(1) or real(fh, name))
    first = file_sha256(f)
    assert file_sha256(f) == first and len(reads) == 1
    monkeypatch.setattr(content, "_memo", {})  # a new process: the record on disk is read
    assert file_sha256(f) == first and len(reads) == 1
    f.write_text('{"text": "b"}\n')
    assert file_sha256(f) != first and len(reads) == 2


def test_a_folder_is_named_by_its_files_names_and_bytes(tmp_path):
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "config.json").write_text("{}")
    (model / "sub" / "w.bin").write_bytes(b"\x00" * 64)
    copy = tmp_path / "copy"
    shutil.copytree(model, copy)
    assert content_hash(model) == content_hash(copy)
    (copy / ".cache").mkdir()
    (copy / ".cache" / "lock").write_text("scratch")  # hidden entries are not content
    assert content_hash(model) == content_hash(copy)
    (copy / "sub" / "w.bin").rename(copy / "sub" / "v.bin")
    assert content_hash(model) != content_hash(copy)
    assert content_hash(model, only=["config.json"]) == content_hash(copy, only=["config.json"])


def test_source_key_is_content_for_paths_and_the_id_for_hub_names(tmp_path):
    f = tmp_path / "bios.parquet"
    f.write_bytes(b"PAR1")
    assert source_key(f) == content_hash(f)
    assert source_key("LabHC/bias_in_bios") == "LabHC/bias_in_bios"
