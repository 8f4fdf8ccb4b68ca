"""Annotation: logit lens, top activating contexts (brute force), human labels."""

from __future__ import annotations

import json

import pytest
import torch

from circuits.annotate import annotate_circuit, load_labels, logit_lens, top_contexts
from circuits.edges import METRIC
from circuits.effects import NodeEffects
from circuits.graph import build_graph
from ssae.errors import DataError
from tests.circuits.circuit_helpers import random_tokens


def test_logit_lens_is_unembedding_of_normed_decoder_direction(tiny_lm, tiny_saes):
    sae = tiny_saes["resid_out_layer1"]
    tokens = logit_lens(tiny_lm, sae, [3, 5], k=4)
    model = tiny_lm.model
    with torch.no_grad():
        logits = model.get_output_embeddings()(
            model.gpt_neox.final_layer_norm(sae.decoder.weight[:, 5])
        )
    expected = [f"t{i} " for i in logits.topk(4).indices.tolist()]
    assert tokens[1] == expected and len(tokens[0]) == 4


def test_top_contexts_match_brute_force(tiny_lm, tiny_saes):
    ds = random_tokens()
    name = "mlp_out_layer0"
    sae = tiny_saes[name]
    # brute force: every real token's features, one document per pass
    acts = []
    for row in range(len(ds)):
        n = int(ds.lengths[row])
        store = {}
        handle = tiny_lm.model.gpt_neox.layers[0].mlp.register_forward_hook(
            lambda m, a, out, store=store: store.__setitem__("x", out)
        )
        with torch.no_grad():
            tiny_lm.model(input_ids=ds.input_ids[row : row + 1, :n].long())
        handle.remove()
        f = sae.encode(store["x"])[0].detach()
        acts += [(f[p], row, p) for p in range(n)]
    j = int(torch.stack([a[0] for a in acts]).amax(0).argmax())  # a feature that fires
    got = top_contexts(
        tiny_lm, tiny_saes, ds, {name: [j]}, k=3, window=(2, 1), batch_size=3, progress=False
    )[(name, j)]
    ranked = sorted(((float(a[0][j]), a[1], a[2]) for a in acts), reverse=True)
    value, row, p = ranked[0]
    assert value > 0 and got[0]["activation"] == pytest.approx(value, rel=1e-6)
    ids = ds.input_ids[row, : int(ds.lengths[row])].tolist()
    left = "".join(f"t{i} " for i in ids[max(0, p - 2) : p])
    right = "".join(f"t{i} " for i in ids[p + 1 : p + 2])
    assert got[0]["text"] == f"{left}«t{ids[p]} »{right}"
    assert [c["activation"] for c in got] == sorted((c["activation"] for c in got), reverse=True)
    assert 1 <= len(got) <= 3 and all(c["activation"] > 0 for c in got)
    assert len({c["text"] for c in got}) == len(got)


def test_labels_and_annotate_circuit(tiny_lm, tiny_saes, tmp_path):
    effects = NodeEffects(
        features={"resid_out_layer1": torch.zeros(24).index_fill_(0, torch.tensor([2, 4]), 0.5)},
        errors={"resid_out_layer1": torch.tensor(0.3)},
        aggregation="sum",
        n_examples=1,
    )
    g = build_graph(effects, {})
    labels = tmp_path / "labels.jsonl"
    labels.write_text(
        json.dumps({"feature": "resid_out_layer1/2", "label": "nurse words"})
        + "\n\n"
        + json.dumps({"feature": "resid_out_layer1/error", "label": "rest"})
        + "\n"
    )
    annotate_circuit(g, tiny_lm, tiny_saes, random_tokens(), labels, k_contexts=2, progress=False)
    a2, a4 = g.nodes["resid_out_layer1/2"], g.nodes["resid_out_layer1/4"]
    assert a2["label"] == "nurse words" and a2["human_label"] == "nurse words"
    assert a4["top_tokens"] == logit_lens(tiny_lm, tiny_saes["resid_out_layer1"], [4], k=8)[0]
    assert a4["label"] == " · ".join(t.strip() for t in a4["top_tokens"][:4])
    assert "contexts" in a4 and all("«" in c["text"] for c in a4["contexts"])
    assert g.nodes["resid_out_layer1/error"]["label"] == "rest"
    assert g.nodes[METRIC]["label"] == "metric"


def test_load_labels_errors(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"feature": "x/1", "label": "a"}\n{"feature": "x/2"}\n')
    with pytest.raises(DataError, match="bad.jsonl:2"):
        load_labels(bad)
    with pytest.raises(DataError, match="does not exist"):
        load_labels(tmp_path / "none.jsonl")
