"""The submodule map reads and writes activations of the right shapes, through nnsight."""

from __future__ import annotations

import pytest
import torch

from ssae.errors import ModelUnavailable, ToolkitError
from ssae.models import LoadedModel, load_model, submodule_specs

pytestmark = pytest.mark.filterwarnings("ignore")


def _check_read_write(lm: LoadedModel, texts: list[str]) -> None:
    specs = lm.submodules()
    assert [s.name for s in specs][:4] == [
        "embed",
        "attn_out_layer0",
        "mlp_out_layer0",
        "resid_out_layer0",
    ]
    assert len(specs) == 1 + 3 * lm.n_layers
    batch = lm.tokenize(texts, max_length=16)
    b, t = batch["input_ids"].shape

    acts: dict[str, torch.Tensor] = {}
    with torch.no_grad(), lm.nn.trace(**batch):
        for spec in specs:
            acts[spec.name] = spec.read(lm.nn)
    for spec in specs:
        assert acts[spec.name].shape == (b, t, lm.d_model), spec.name

    # Reading through nnsight agrees with the HF model's own hidden states.
    with torch.no_grad():
        hidden = lm.model(**batch, output_hidden_states=True).hidden_states
    torch.testing.assert_close(acts["embed"], hidden[0])
    torch.testing.assert_close(acts["resid_out_layer0"], hidden[1])

    # Writing: zeroing one layer's MLP output changes that layer's residual by exactly that output
    # (GPTNeoX adds attn and MLP outputs to the residual in parallel).
    spec = lm.submodule("mlp_out_layer1")
    out: dict[str, torch.Tensor] = {}
    with torch.no_grad(), lm.nn.trace(**batch):
        x = spec.read(lm.nn)
        spec.write(lm.nn, torch.zeros_like(x))
        out["resid"] = lm.submodule("resid_out_layer1").read(lm.nn)
    torch.testing.assert_close(out["resid"], acts["resid_out_layer1"] - acts["mlp_out_layer1"])

    # Writing the attention output (a tuple in transformers) works the same way.
    spec = lm.submodule("attn_out_layer0")
    with torch.no_grad(), lm.nn.trace(**batch):
        x = spec.read(lm.nn)
        spec.write(lm.nn, torch.zeros_like(x))
        out["resid"] = lm.submodule("resid_out_layer0").read(lm.nn)
    torch.testing.assert_close(out["resid"], acts["resid_out_layer0"] - acts["attn_out_layer0"])


def test_submodule_map_micro_world(micro_world):
    lm = load_model(micro_world.model)
    _check_read_write(lm, ["She is a nurse at the clinic.", "He teaches physics at a university."])


def test_submodule_map_pythia70m_shape(pythia70m_dir):
    lm = load_model(pythia70m_dir)
    assert lm.d_model == 512 and lm.n_layers == 6
    assert lm.tokenizer("Hello world")["input_ids"] == [12092, 1533]  # real Pythia BPE ids
    _check_read_write(lm, ["Dr. Jane Doe is a professor of chemistry.", "He is a nurse."])


def test_layer_selection_and_unknown_names(pythia70m_dir):
    from transformers import AutoConfig, GPTNeoXForCausalLM

    model = GPTNeoXForCausalLM(AutoConfig.from_pretrained(pythia70m_dir))
    specs = submodule_specs(model, layers=range(5))
    assert len(specs) == 16  # embed + attn/mlp/resid for layers 0..4, as in Marks et al.
    assert specs[-1].name == "resid_out_layer4"
    with pytest.raises(ToolkitError, match="out of range"):
        submodule_specs(model, layers=[9])
    lm = LoadedModel(model, None, "random")
    with pytest.raises(ToolkitError, match="no submodule 'resid_out_layer9'"):
        lm.submodule("resid_out_layer9")


def test_offline_missing_model_is_one_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailable) as err:
        load_model("EleutherAI/pythia-70m-deduped-not-cached")
    msg = str(err.value)
    assert "\n" not in msg and "--model PATH" in msg and "--preset tiny" in msg


def test_missing_local_directory(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelUnavailable, match="could not be loaded"):
        load_model(tmp_path / "empty")
