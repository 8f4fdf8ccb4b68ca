"""Stage keys name the content of their inputs: results of different models, data or dictionaries
never share a key, and identical content shares one wherever it lies."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from probes.activations import model_fingerprint
from shift.presets import get_preset
from shift.stages.context import RunContext, _bib_key
from shift.stages.dictionaries import run_gsae
from ssae import content
from tests.conftest import make_gpt_neox


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SHIFT_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(content, "_memo", {})


def save_model(folder: Path, seed: int) -> None:
    make_gpt_neox(seed=seed, hidden=16, layers=1, vocab=64, heads=2).model.save_pretrained(folder)


def keep_times_of(reference: Path, folder: Path) -> None:
    """Give every file of `folder` the modification time of its namesake in `reference`."""
    for f in folder.rglob("*"):
        if f.is_file():
            st = (reference / f.relative_to(folder)).stat()
            os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_the_model_key_names_the_weights_not_the_folder(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    save_model(a, seed=0)
    shutil.copytree(a, b)

    def key(folder):
        return model_fingerprint(SimpleNamespace(name=str(folder)))

    assert key(a) == key(b)  # the same model elsewhere finds its results
    other = tmp_path / "other"
    save_model(other, seed=1)
    keep_times_of(a, other)
    for f in other.iterdir():  # another model copied in with the old times (`cp -p`)
        shutil.copy2(f, a / f.name)
    assert key(a) != key(b)


def test_a_hub_model_is_named_by_its_revision():
    lm = make_gpt_neox(name="EleutherAI/pythia-70m-deduped", hidden=16, layers=1, vocab=64)
    lm.model.config._commit_hash = "a" * 40
    assert model_fingerprint(lm) == {"model": "EleutherAI/pythia-70m-deduped", "revision": "a" * 40}


def test_the_data_key_names_the_biographies(tmp_path):
    cfg = SimpleNamespace(
        sources=SimpleNamespace(professions="professor,nurse"), max_per_group=None
    )
    bib, copy = tmp_path / "bib", tmp_path / "copy"
    bib.mkdir()
    for split in ("train", "test"):
        (bib / f"{split}.parquet").write_bytes(f"PAR1 {split} rows".encode())
    shutil.copytree(bib, copy)
    assert _bib_key(str(bib), cfg) == _bib_key(str(copy), cfg)
    st = (bib / "test.parquet").stat()
    (bib / "test.parquet").write_bytes(b"PAR1 TEST ROWS")
    os.utime(bib / "test.parquet", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert _bib_key(str(bib), cfg) != _bib_key(str(copy), cfg)
    assert _bib_key("LabHC/bias_in_bios", cfg) != _bib_key(str(copy), cfg)


def test_a_user_dictionary_folder_is_named_by_what_the_run_reads(tmp_path):
    folder = tmp_path / "saes"
    preset = get_preset("paper", saes=str(folder))  # 16 submodules, runs in 10_32768/
    for name in preset.submodule_names:
        run = folder / name / preset.sae_subfolder
        run.mkdir(parents=True)
        (run / "ae.pt").write_bytes(name.encode() * 10)

    def key(saes: Path) -> str:
        p = get_preset("paper", saes=str(saes))
        ctx = RunContext(None, None, p, None, None, None, "")
        return run_gsae(ctx).key

    first = key(folder)
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    assert key(copy) == first
    (folder / "embed" / "1_4096").mkdir()  # another run the preset does not read
    (folder / "embed" / "1_4096" / "ae.pt").write_bytes(b"x")
    assert key(folder) == first
    target = folder / "resid_out_layer3" / "10_32768" / "ae.pt"
    st = target.stat()
    target.write_bytes(b"R" * st.st_size)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert key(folder) != first
