"""The circuit graph: thresholds, attributes, JSON round trip, rendering to SVG and PNG."""

from __future__ import annotations

import json
import re

import networkx as nx
import pytest
import torch

from circuits import compute_circuit, load_graph, logit_diff, render_circuit, save_graph
from circuits.config import EffectConfig, ThresholdConfig
from circuits.edges import METRIC
from circuits.effects import NodeEffects
from circuits.graph import build_graph, effect_summary
from circuits.render import to_dot
from ssae.errors import DataError, ToolkitError
from tests.circuits.circuit_helpers import make_batch


def _effects() -> NodeEffects:
    return NodeEffects(
        features={
            "embed": torch.tensor([0.5, -0.05, -0.3]),
            "resid_out_layer0": torch.tensor([0.2, 0.0, -0.9]),
        },
        errors={"embed": torch.tensor(0.02), "resid_out_layer0": torch.tensor(-0.4)},
        aggregation="sum",
        n_examples=4,
        metric_clean=1.5,
    )


def _graph():
    edges = {
        ("embed/0", "resid_out_layer0/2"): 0.3,
        ("embed/2", "resid_out_layer0/error"): -0.05,
        ("embed/1", "resid_out_layer0/0"): 0.9,  # embed/1 is below the node threshold
        ("embed/0", "resid_out_layer0/0"): 0.001,  # below the edge threshold
        ("resid_out_layer0/2", METRIC): -0.9,
        ("resid_out_layer0/error", METRIC): -0.4,
    }
    return build_graph(
        _effects(), edges, ThresholdConfig(), "probe", meta={"method": "ig", "steps": 10}
    )


def test_effect_summary_splits_the_circuit_between_features_and_errors():
    """Over the nodes above the threshold: features 0.5, 0.3, 0.2, 0.9; the one error 0.4 (the
    embed error, 0.02, is below the threshold and the metric node is neither)."""
    summary = effect_summary(_graph())
    f, e = summary["features"], summary["errors"]
    assert (f["nodes"], e["nodes"]) == (4, 1)
    assert f["abs_effect"] == pytest.approx(1.9) and e["abs_effect"] == pytest.approx(0.4)
    assert f["share"] == pytest.approx(1.9 / 2.3) and e["share"] == pytest.approx(0.4 / 2.3)
    assert (f["largest"], e["largest"]) == (pytest.approx(0.9), pytest.approx(0.4))
    assert summary["node_threshold"] == 0.1
    empty = effect_summary(build_graph(_effects(), {}, ThresholdConfig(node_threshold=5.0)))
    assert empty["features"]["nodes"] == 0 and empty["features"]["share"] is None


def test_thresholds_and_attributes():
    g = _graph()
    assert set(g.nodes) == {
        "embed/0",
        "embed/2",
        "resid_out_layer0/0",
        "resid_out_layer0/2",
        "resid_out_layer0/error",
        METRIC,
    }
    assert set(g.edges) == {
        ("embed/0", "resid_out_layer0/2"),
        ("embed/2", "resid_out_layer0/error"),
        ("resid_out_layer0/2", METRIC),
        ("resid_out_layer0/error", METRIC),
    }
    a = g.nodes["resid_out_layer0/2"]
    assert (a["kind"], a["submodule"], a["feature"], a["position"]) == (
        "feature",
        "resid_out_layer0",
        2,
        None,
    )
    assert a["effect"] == pytest.approx(-0.9) and a["label"] == "resid0 #2"
    e = g.nodes["resid_out_layer0/error"]
    assert e["kind"] == "error" and e["feature"] == "error"
    assert g.nodes[METRIC]["kind"] == "metric" and g.nodes[METRIC]["value"] == 1.5
    assert g.edges["embed/0", "resid_out_layer0/2"]["weight"] == pytest.approx(0.3)
    assert g.graph["submodules"] == ["embed", "resid_out_layer0"] and g.graph["steps"] == 10


def test_json_round_trip(tmp_path):
    g = _graph()
    g.nodes["embed/0"]["contexts"] = [{"text": "a «b» c", "activation": 1.0}]
    path = save_graph(g, tmp_path / "c.json")
    h = load_graph(path)
    assert nx.utils.nodes_equal(g.nodes(data=True), h.nodes(data=True))
    assert nx.utils.edges_equal(g.edges(data=True), h.edges(data=True))
    assert dict(g.nodes(data=True)) == dict(h.nodes(data=True))
    assert g.graph == h.graph and h.is_directed()
    json.loads(path.read_text())  # strict JSON


def test_load_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_graph(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(DataError, match="not valid JSON"):
        load_graph(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text('{"nodes": []}')
    with pytest.raises(DataError, match="not a circuit"):
        load_graph(tmp_path / "other.json")


def _polygons(svg: str) -> dict[str, list[int]]:
    """Number of corners of every polygon drawn in each node group of the SVG."""
    out = {}
    for title, body in re.findall(
        r'<g id="node\d+" class="node">\s*<title>(.*?)</title>(.*?)</g>', svg, re.S
    ):
        out[title] = [len(p.split()) for p in re.findall(r'<polygon[^>]*points="([^"]*)"', body)]
        out[title + ":path"] = len(re.findall(r"<path", body))
    return out


def test_svg_shapes_colours_and_labels(tmp_path):
    g = _graph()
    g.nodes["embed/0"]["label"] = 'says "<b>" & more'
    path = render_circuit(g, tmp_path / "c.svg")
    svg = path.read_text()
    shapes = _polygons(svg)
    # graphviz closes polygons by repeating the first point
    assert shapes["resid_out_layer0/error"] == [4]  # triangle
    assert shapes[METRIC] == [5]  # diamond
    assert shapes["embed/0:path"] >= 1 and shapes["embed/0"] == []  # rounded box is a path
    assert "resid0 ε" in svg and "resid0 #2" in svg and "probe" in svg
    assert "says &quot;&lt;b&gt;&quot; &amp; more" in svg or 'says "&lt;b&gt;" &amp; more' in svg
    fills = set(re.findall(r'fill="(#[0-9a-f]{6})"', svg))
    blues = [f for f in fills if int(f[5:7], 16) > int(f[1:3], 16) + 20]
    reds = [f for f in fills if int(f[1:3], 16) > int(f[5:7], 16) + 20]
    assert blues and reds
    # the strongest node gets the darkest shade: resid_out_layer0/2 (-0.9) is full red
    assert "#b2182b" in fills
    strokes = re.findall(r'<g id="edge\d+" class="edge">.*?stroke-width="([\d.]+)"', svg, re.S)
    assert len({float(s) for s in strokes}) >= 2  # edge width follows |weight|


def test_png_and_row_limit(tmp_path):
    g = _graph()
    path = render_circuit(g, tmp_path / "c.png", max_per_row=1)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    src = to_dot(g, max_per_row=1).source
    assert "+1 more" in src and "embed/2" not in src and "rankdir=BT" in src
    with pytest.raises(ToolkitError, match="svg"):
        render_circuit(g, tmp_path / "c.txt")


def test_compute_circuit_end_to_end(tiny_lm, tiny_saes, tmp_path):
    c = compute_circuit(
        tiny_lm,
        tiny_saes,
        [make_batch()],
        logit_diff(),
        EffectConfig(steps=3),
        ThresholdConfig(node_threshold=0.01, edge_threshold=0.001),
        progress=False,
    )
    g = c.graph
    assert g.number_of_nodes() > 3 and g.number_of_edges() > 0
    for _, a in g.nodes(data=True):
        assert a["kind"] == "metric" or abs(a["effect"]) > 0.01
    for u, v, w in g.edges(data="weight"):
        assert abs(w) > 0.001 and w == pytest.approx(c.edges[(u, v)])
    c.save(tmp_path / "c.json")
    assert load_graph(tmp_path / "c.json").graph["ig_mode"] == "per_submodule"
