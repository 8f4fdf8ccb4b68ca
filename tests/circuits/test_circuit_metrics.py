"""Metrics: probe sign convention, pooling over real tokens, logit diff, loss, probe files."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from circuits import Metric, mean_pool, probe_metric
from circuits.metrics import load_probe_metric, logit_diff, next_token_loss
from ssae.errors import DataError, ToolkitError
from tests.circuits.circuit_helpers import make_batch


def test_probe_metric_is_negative_logit_of_correct_class():
    acts = torch.randn(3, 5, 4)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])
    w, b = torch.randn(4), torch.tensor(0.3)
    labels = torch.tensor([1, 0, 1])
    m = probe_metric(w, b, reads="resid_out_layer4")(
        acts, {"attention_mask": mask, "labels": labels}
    )
    for i in range(3):
        n = int(mask[i].sum())
        logit = acts[i, :n].mean(0) @ w + b
        expected = -logit if labels[i] == 1 else logit
        assert torch.allclose(m[i], expected, atol=1e-6)


def test_mean_pool_ignores_padding():
    acts = torch.randn(2, 4, 3)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    acts2 = acts.clone()
    acts2[0, 2:] = 1e6  # padding values must not matter
    assert torch.allclose(mean_pool(acts, mask), mean_pool(acts2, mask))
    assert torch.allclose(mean_pool(acts, mask)[0], acts[0, :2].mean(0))


def test_logit_diff_reads_last_real_token():
    logits = torch.randn(2, 5, 7)
    batch = make_batch(b=2, t=5, vocab=7, pad_first=2)
    m = logit_diff()(logits, batch)
    last = [2, 4]
    for i in range(2):
        row = logits[i, last[i]]
        assert torch.allclose(m[i], row[batch["correct_id"][i]] - row[batch["incorrect_id"][i]])


def test_next_token_loss_matches_cross_entropy():
    logits = torch.randn(2, 5, 7)
    ids = torch.randint(0, 7, (2, 5))
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    m = next_token_loss()(logits, {"input_ids": ids, "attention_mask": mask})
    ce0 = torch.nn.functional.cross_entropy(logits[0, :2], ids[0, 1:3])
    ce1 = torch.nn.functional.cross_entropy(logits[1, :4], ids[1, 1:5])
    assert torch.allclose(m, torch.stack([ce0, ce1]), atol=1e-6)


def test_metric_must_return_one_value_per_example():
    bad = Metric(fn=lambda x, b: x.sum(), reads="logits")
    with pytest.raises(ToolkitError, match="one value"):
        bad(torch.randn(2, 3, 4), {})
    assert Metric(fn=lambda x, b: x[:, 0, 0]).needs_logits


@pytest.mark.parametrize("prefix", ["", "net."])
def test_load_probe_metric_key_styles_and_metadata(tmp_path, prefix):
    w = torch.randn(1, 4)
    path = tmp_path / "p.safetensors"
    save_file(
        {f"{prefix}weight": w, f"{prefix}bias": torch.tensor([0.5])},
        str(path),
        metadata={"submodule": "resid_out_layer2"},
    )
    metric = load_probe_metric(path)
    assert metric.reads == "resid_out_layer2"
    acts = torch.randn(1, 3, 4)
    batch = {"attention_mask": torch.ones(1, 3), "labels": torch.tensor([0])}
    assert torch.allclose(metric(acts, batch), acts.mean(1) @ w[0] + 0.5, atol=1e-6)
    assert load_probe_metric(path, reads="resid_out_layer1").reads == "resid_out_layer1"


def test_load_probe_metric_errors(tmp_path):
    with pytest.raises(DataError):
        load_probe_metric(tmp_path / "missing.safetensors")
    path = tmp_path / "p.safetensors"
    save_file({"weight": torch.randn(4)}, str(path))
    with pytest.raises(DataError, match="which activation"):
        load_probe_metric(path)
    (tmp_path / "torn.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(DataError):
        load_probe_metric(tmp_path / "torn.safetensors", reads="embed")
