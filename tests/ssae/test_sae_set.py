"""SAE sets: the Marks et al. folder layout, forward order, saving, slicing, and mismatches."""

from __future__ import annotations

import json

import pytest
import torch

from ssae.archs import AutoEncoder
from ssae.errors import CheckpointError, ToolkitError
from ssae.formats import save_dictionary
from ssae.sae_set import SAESet

pytestmark = pytest.mark.usefixtures("one_thread")

FORWARD = [
    "embed",
    "attn_out_layer0",
    "mlp_out_layer0",
    "resid_out_layer0",
    "attn_out_layer1",
    "mlp_out_layer1",
    "resid_out_layer1",
]


def _marks_layout(root, d=32, n=48, names=FORWARD, run="10_32768"):
    torch.manual_seed(0)
    made = {}
    for name in reversed(names):  # creation order must not matter
        ae = AutoEncoder(d, n)
        with torch.no_grad():
            ae.bias.normal_()
        save_dictionary(ae, root / name / run, trainer={"lr": 1e-3, "l1_penalty": 0.1})
        made[name] = ae
    return made


def test_load_marks_layout_in_forward_order(tmp_path, tiny_lm):
    made = _marks_layout(tmp_path)
    saes = SAESet.load(tmp_path, tiny_lm)
    assert saes.names == FORWARD == [s.name for s in saes.specs]
    x = torch.randn(5, 32)
    for name in FORWARD:
        assert torch.equal(saes[name](x), made[name](x))
        assert saes.configs[name]["trainer"]["l1_penalty"] == 0.1
    only = SAESet.load(tmp_path, tiny_lm, names=["resid_out_layer1", "embed"])
    assert only.names == ["embed", "resid_out_layer1"]


def test_save_roundtrip_and_dictionary_learning_interop(tmp_path, tiny_lm):
    dl = pytest.importorskip("dictionary_learning.dictionary")
    saes = SAESet.new(tiny_lm, 48, seed=3)
    with torch.no_grad():
        for ae in saes.values():
            ae.encoder.bias.normal_(0, 0.1)
    saes.save(tmp_path / "set", dict_id="0_48")
    layout = sorted(
        p.relative_to(tmp_path / "set").as_posix() for p in (tmp_path / "set").rglob("*.*")
    )
    assert "embed/0_48/ae.pt" in layout and "resid_out_layer1/0_48/config.json" in layout
    back = SAESet.load(tmp_path / "set", tiny_lm)
    x = torch.randn(7, 32)
    for name in saes:
        theirs = dl.AutoEncoder.from_pretrained(str(tmp_path / "set" / name / "0_48" / "ae.pt"))
        assert torch.equal(theirs(x), saes[name](x))
        assert torch.equal(back[name](x), saes[name](x))
        cfg = json.loads((tmp_path / "set" / name / "0_48" / "config.json").read_text())
        assert cfg["trainer"]["activation_dim"] == 32 and cfg["trainer"]["dict_size"] == 48


def test_slice_to_first_k(tmp_path, tiny_lm):
    _marks_layout(tmp_path)
    saes = SAESet.load(tmp_path, tiny_lm)
    small = saes.slice(10)
    x = torch.randn(6, 32)
    for name in saes:
        assert small[name].dict_size == 10
        assert torch.equal(small[name].encoder.weight, saes[name].encoder.weight[:10])
        assert torch.equal(small[name].decoder.weight, saes[name].decoder.weight[:, :10])
        assert torch.allclose(small[name].encode(x), saes[name].encode(x)[:, :10], atol=1e-6)
    small.save(tmp_path / "small")
    assert SAESet.load(tmp_path / "small", tiny_lm)["embed"].dict_size == 10
    with pytest.raises(CheckpointError, match="cannot keep 49"):
        saes.slice(49)


def test_mismatched_width_names_file_and_sizes(tmp_path, tiny_lm):
    _marks_layout(tmp_path, d=24)
    with pytest.raises(CheckpointError) as e:
        SAESet.load(tmp_path, tiny_lm)
    msg = str(e.value)
    assert "\n" not in msg
    assert str(tmp_path / "embed" / "10_32768" / "ae.pt") in msg
    assert "input size 24" in msg and "32" in msg and "embed" in msg


def test_foreign_layer_and_ambiguous_runs(tmp_path, tiny_lm):
    _marks_layout(tmp_path / "a", names=["embed", "resid_out_layer5"])
    with pytest.raises(CheckpointError, match="resid_out_layer5"):
        SAESet.load(tmp_path / "a", tiny_lm)
    _marks_layout(tmp_path / "b", names=["embed"], run="r1")
    _marks_layout(tmp_path / "b", names=["embed"], run="r2")
    with pytest.raises(CheckpointError, match="several dictionaries"):
        SAESet.load(tmp_path / "b", tiny_lm)
    assert SAESet.load(tmp_path / "b", tiny_lm, dict_id="r2").names == ["embed"]
    with pytest.raises(CheckpointError, match="holds no submodule folders"):
        SAESet.load(tmp_path / "b" / "embed", tiny_lm)


def test_save_refuses_to_replace_unrelated_folder(tmp_path, tiny_lm):
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(ToolkitError, match="not an SAE set"):
        SAESet.new(tiny_lm, 8).save(tmp_path)
    assert (tmp_path / "notes.txt").exists()


def test_identity_set_and_to(tiny_lm):
    ident = SAESet.identity(tiny_lm)
    assert ident.names == FORWARD and ident["embed"].dict_size == 32
    saes = SAESet.new(tiny_lm, 8).to(dtype=torch.float64)
    assert saes["embed"].encoder.weight.dtype == torch.float64
