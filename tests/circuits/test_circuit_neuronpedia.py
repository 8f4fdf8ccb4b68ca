"""Export to Neuronpedia's attribution-graph JSON schema: every required field with its type, as
the published schema states them, and the mapping of our nodes, edges and ablated features."""

from __future__ import annotations

import json

import pytest
import torch

from circuits.config import ThresholdConfig
from circuits.edges import METRIC
from circuits.effects import NodeEffects
from circuits.graph import build_graph
from circuits.neuronpedia import SUMMED, export_neuronpedia, to_neuronpedia
from circuits.synthetic import synthetic_circuit

# The required fields and their JSON types in Neuronpedia's published schema
# (hijohnnylin/neuronpedia, apps/webapp/app/api/graph/graph-schema.json, 2026-08).
REQUIRED = {
    "": {"metadata": "object", "qParams": "object", "nodes": "array", "links": "array"},
    "metadata": {
        "slug": "string",
        "scan": "string",
        "prompt_tokens": "array",
        "prompt": "string",
    },
    "node": {
        "node_id": "string",
        "feature": ("integer", "null"),
        "layer": ("string", "integer"),
        "ctx_idx": "integer",
        "feature_type": "string",
        "jsNodeId": "string",
        "clerp": "string",
    },
    "link": {"source": "string", "target": "string", "weight": "number"},
}
# Optional fields whose type the schema also fixes.
OPTIONAL = {
    "qParams": {
        "pinnedIds": "array",
        "supernodes": "array",
        "linkType": "string",
        "clickedId": "string",
        "sg_pos": "string",
    },
    "node": {"influence": ("number", "null"), "activation": ("number", "null")},
}


def json_type(value) -> set[str]:
    """The JSON Schema types a decoded JSON value has (an integer is also a number)."""
    if value is None:
        return {"null"}
    if isinstance(value, bool):
        return {"boolean"}
    if isinstance(value, int):
        return {"integer", "number"}
    if isinstance(value, float):
        return {"number"} | ({"integer"} if value.is_integer() else set())
    return {str: {"string"}, list: {"array"}, dict: {"object"}}[type(value)]


def check(obj: dict, required: dict, optional: dict | None = None) -> None:
    for key, types in required.items():
        assert key in obj, f"required field {key!r} missing"
        types = {types} if isinstance(types, str) else set(types)
        assert json_type(obj[key]) & types, f"{key}: {obj[key]!r} is not {types}"
    for key, types in (optional or {}).items():
        if key in obj:
            types = {types} if isinstance(types, str) else set(types)
            assert json_type(obj[key]) & types, f"{key}: {obj[key]!r} is not {types}"


def validate(doc: dict) -> None:
    check(doc, REQUIRED[""])
    check(doc["metadata"], REQUIRED["metadata"])
    assert all(isinstance(t, str) for t in doc["metadata"]["prompt_tokens"])
    check(doc["qParams"], {}, OPTIONAL["qParams"])
    assert all(isinstance(i, str) for i in doc["qParams"]["pinnedIds"])
    for node in doc["nodes"]:
        check(node, REQUIRED["node"], OPTIONAL["node"])
    for link in doc["links"]:
        check(link, REQUIRED["link"])


@pytest.fixture(scope="module")
def graph():
    g = synthetic_circuit(n_features=80, n_edges=500, n_layers=3, seed=2)
    features = [n for n, a in g.nodes(data=True) if a["kind"] == "feature"]
    g.graph["ablated"] = features[:4] + ["mlp_out_layer0/77777"]
    g.graph["model"] = "/home/me/models/Pythia-70M-deduped"
    return g


def test_validator_rejects_what_the_schema_rejects():
    good = {"node_id": "a", "feature": 1, "layer": "0", "ctx_idx": 0}
    good |= {"feature_type": "embedding", "jsNodeId": "a", "clerp": ""}
    check(good, REQUIRED["node"])
    for key, bad in [("feature", "1"), ("ctx_idx", 1.5), ("layer", None), ("clerp", None)]:
        with pytest.raises(AssertionError):
            check(good | {key: bad}, REQUIRED["node"])
    with pytest.raises(AssertionError, match="missing"):
        check({k: v for k, v in good.items() if k != "jsNodeId"}, REQUIRED["node"])


def test_export_has_every_required_field_and_type(graph, tmp_path):
    path = export_neuronpedia(graph, tmp_path / "my circuit.json", scan=None)
    doc = json.loads(path.read_text())  # what a reader of the file gets
    validate(doc)
    assert doc["metadata"]["slug"] == "my-circuit"
    assert doc["metadata"]["scan"] == "pythia-70m-deduped"
    assert doc["metadata"]["prompt_tokens"] == [SUMMED]
    assert len(doc["nodes"]) == graph.number_of_nodes()
    assert len(doc["links"]) == graph.number_of_edges()


def test_nodes_links_and_pins_map_the_circuit(graph):
    doc = to_neuronpedia(graph, "x", scan="pythia-70m-deduped")
    ids = [n["node_id"] for n in doc["nodes"]]
    assert len(set(ids)) == len(ids) and len({n["jsNodeId"] for n in doc["nodes"]}) == len(ids)
    by_id = {n["node_id"]: n for n in doc["nodes"]}
    assert all(link["source"] in by_id and link["target"] in by_id for link in doc["links"])
    weights = sorted(w for *_, w in graph.edges(data="weight"))
    assert sorted(link["weight"] for link in doc["links"]) == weights
    types = {}
    for n in doc["nodes"]:
        types.setdefault(
            (n["node_id"].split("_")[0].rstrip("0123456789"), n["feature"] == -1), set()
        ).add((n["feature_type"], n["layer"]))
    assert {t for t, _ in types[("attn", False)]} == {"lorsa"}
    assert {t for t, _ in types[("attn", True)]} == {"lorsa error"}
    assert {t for t, _ in types[("resid", False)]} == {"cross layer transcoder"}
    assert {t for t, _ in types[("mlp", True)]} == {"mlp reconstruction error"}
    assert {layer for _, layer in types[("embed", False)]} == {"E"}
    (metric,) = [n for n in doc["nodes"] if n["feature_type"] == "logit"]
    assert metric["layer"] == "3" and "(p=1.000)" in metric["clerp"]
    feature = next(n for n, a in graph.nodes(data=True) if a["kind"] == "feature")
    a = graph.nodes[feature]
    short = {"embed": "embed"}.get(a["submodule"], a["submodule"].replace("_out_layer", ""))
    node = by_id[f"{short}_{a['feature']}_0"]
    assert node["clerp"] == a["label"] and node["feature"] == a["feature"] and node["ctx_idx"] == 0
    pinned = doc["qParams"]["pinnedIds"]
    assert len(pinned) == 4 and doc["qParams"]["clickedId"] == pinned[0]  # the 5th is not drawn


def test_per_position_circuits_keep_their_positions():
    effects = NodeEffects(
        features={"resid_out_layer0": torch.tensor([[0.0, 0.5], [0.3, 0.0], [0.0, -0.2]])},
        errors={"resid_out_layer0": torch.tensor([0.0, 0.0, 0.4])},
        aggregation="none",
        n_examples=3,
    )
    g = build_graph(
        effects, {("resid_out_layer0/1@0", METRIC): 0.5}, ThresholdConfig(node_threshold=0.1)
    )
    doc = to_neuronpedia(g, "pos", scan="m")
    validate(doc)
    assert len(doc["metadata"]["prompt_tokens"]) == 3
    ctx = sorted((n["node_id"], n["ctx_idx"]) for n in doc["nodes"] if n["feature_type"] != "logit")
    assert ctx == [("resid0_-1_2", 2), ("resid0_0_1", 1), ("resid0_1_0", 0), ("resid0_1_2", 2)]
    assert doc["links"] == [{"source": "resid0_1_0", "target": "metric_-1_0", "weight": 0.5}]
