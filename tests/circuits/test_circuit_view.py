"""The circuit explorer: its data (positions, colours, thresholds), a self-contained page, and
the page itself in headless Chromium from file:// (counts, click -> card, controls, search)."""

from __future__ import annotations

import json
import re

import pytest

from circuits.edges import METRIC
from circuits.synthetic import synthetic_circuit
from circuits.view import circuit_view_html, plotly_js, view_data, write_circuit_view
from ssae.errors import ToolkitError
from tests.browser import (
    click_node,
    drawn_points,
    drawn_segments,
    open_view,
    set_threshold,
    settle,
)

HOSTILE = "</script><script>window.hacked = 1</script> <b>bold</b>"


@pytest.fixture(scope="module")
def graph():
    g = synthetic_circuit(n_features=60, n_edges=400, n_layers=2, seed=1)
    features = sorted(
        (n for n, a in g.nodes(data=True) if a["kind"] == "feature"),
        key=lambda n: -abs(g.nodes[n]["effect"]),
    )
    g.graph["ablated"] = features[:3] + ["resid_out_layer1/99999"]  # the last is not drawn
    g.graph["ablation_note"] = "top 4 by gender effect"
    g.nodes[features[5]]["contexts"][0]["text"] = f"before «{HOSTILE}» after"
    return g


def _expected_nodes(g, node_t, kinds=("embed", "attn", "mlp", "resid", "error")):
    from circuits.view import node_group

    return sum(
        1
        for _, a in g.nodes(data=True)
        if a["kind"] == "metric" or (node_group(a) in kinds and abs(a["effect"]) > node_t)
    )


def _expected_edges(g, node_t, edge_t):
    def shown(n):
        a = g.nodes[n]
        return a["kind"] == "metric" or abs(a["effect"]) > node_t

    return sum(1 for u, v, w in g.edges(data="weight") if abs(w) > edge_t and shown(u) and shown(v))


# ------------------------------------------------------------------------------- data


def test_layout_rows_follow_the_forward_order_and_the_metric_is_on_top(graph):
    data = view_data(graph)
    rows = data["meta"]["rows"]
    assert rows[:4] == ["embed", "attn0", "mlp0", "resid0"] and rows[-1] == "probe"
    by_id = {n["id"]: n for n in data["nodes"]}
    assert by_id[METRIC]["y"] == len(rows) - 1
    for n in data["nodes"]:
        if n["k"] != "metric":
            assert rows[n["y"]] == re.sub(r"_out_layer", "", n["s"])
    # inside a row the largest |effect| stands in the middle, then right, left, right, ...
    row = sorted((n for n in data["nodes"] if n["y"] == 3), key=lambda n: -abs(n["e"]))
    assert [n["x"] for n in row][:5] == [0, 1, -1, 2, -2][: len(row[:5])]


def test_colours_cards_and_ablation_come_from_the_graph(graph):
    data = view_data(graph)
    by_id = {n["id"]: n for n in data["nodes"]}
    for n, a in graph.nodes(data=True):
        node = by_id[n]
        if a["kind"] == "feature":
            assert re.fullmatch(r"#[0-9a-f]{6}", node["c"])
            blue = int(node["c"][5:7], 16) > int(node["c"][1:3], 16)
            assert blue == (a["effect"] > 0)
            assert len(node["ctx"]) == 10 and node["t"] == a["top_tokens"]
            assert node["fq"] == a["frequency"]
        if a["kind"] == "error":
            assert node["fvu"] == a["fvu"] and "ctx" not in node
    classes = sorted((abs(n["e"]), n["b"]) for n in data["nodes"] if n["k"] != "metric")
    assert [b for _, b in classes] == sorted(b for _, b in classes)  # larger |effect|, larger
    assert {b for _, b in classes} == set(range(data["meta"]["levels"]))
    assert sum(1 for n in data["nodes"] if n.get("a")) == 3
    assert data["ablation"]["in_circuit"] == graph.graph["ablated"][:3]
    assert data["ablation"]["note"] == "top 4 by gender effect"
    explicit = view_data(graph, ablated=[graph.graph["ablated"][1]], ablation_note="mine")
    assert sum(1 for n in explicit["nodes"] if n.get("a")) == 1


def test_the_page_opens_with_at_most_max_edges_edges(graph):
    weights = sorted((abs(w) for *_, w in graph.edges(data="weight")), reverse=True)
    data = view_data(graph, max_edges=100)
    start = data["meta"]["edge_threshold_start"]
    assert sum(1 for w in weights if w > start) == 100
    assert (
        view_data(graph, max_edges=None)["meta"]["edge_threshold_start"]
        == (graph.graph["edge_threshold"])
    )
    with pytest.raises(ToolkitError, match="renderer"):
        view_data(graph, renderer="canvas")


def test_the_page_is_self_contained(graph, tmp_path):
    page = circuit_view_html(graph)
    assert plotly_js()[:200] in page  # Plotly inlined from the installed package
    outside = re.sub(r"(<script[^>]*>).*?</script>", r"\1</script>", page, flags=re.S)
    assert not re.search(r"\b(src|href)=|@import|url\(", outside)  # nothing loaded from elsewhere
    # the graph's text cannot close a data element: four script elements, no more
    assert len(re.findall(r"<script\b", page)) == 4 and HOSTILE not in page
    data = json.loads(re.search(r'id="circuit-data">(.*?)</script>', page, re.S).group(1))
    assert data["meta"]["node_threshold"] == graph.graph["node_threshold"]
    path = write_circuit_view(graph, tmp_path / "sub" / "c.html")
    assert path.read_text(encoding="utf-8") == page


# ------------------------------------------------------------------------------- browser


@pytest.fixture(scope="module")
def page_file(graph, tmp_path_factory):
    return write_circuit_view(graph, tmp_path_factory.mktemp("view") / "circuit.html")


@pytest.mark.parametrize("renderer", ["svg", "webgl"])
def test_browser_draws_every_node_of_the_json(browser, graph, tmp_path, renderer):
    path = write_circuit_view(graph, tmp_path / f"{renderer}.html", renderer=renderer)
    page = open_view(browser, path)
    assert page.evaluate("window.circuitView.renderer") == renderer
    assert [u for u in page.requests if not u.startswith(("file:", "data:", "blob:"))] == []
    node_t, edge_t = graph.graph["node_threshold"], graph.graph["edge_threshold"]
    expected = _expected_nodes(graph, node_t)
    assert expected == graph.number_of_nodes()
    assert (
        drawn_points(page) == expected == int(page.locator("#counts").get_attribute("data-nodes"))
    )
    assert drawn_segments(page) == _expected_edges(graph, node_t, edge_t)
    assert drawn_points(page, "overlay") == 3  # the three ablated features in the circuit
    assert page.errors == [] and page.evaluate("window.hacked") is None
    page.close()


def test_browser_click_shows_the_card(browser, graph, page_file, tmp_path):
    page = open_view(browser, page_file)
    feature = graph.graph["ablated"][0]
    click_node(page, feature)
    card = page.locator("#card")
    contexts = card.locator("li.context")
    assert contexts.count() == 10
    first = graph.nodes[feature]["contexts"][0]
    text = first["text"]
    assert (
        contexts.nth(0).locator("mark").inner_text() == text[text.index("«") + 1 : text.index("»")]
    )
    assert contexts.nth(0).locator(".act").inner_text() == f"{first['activation']:.4g}"
    assert "ablated" in card.inner_text() and "top 4 by gender effect" in card.inner_text()
    assert "% of tokens" in card.inner_text()
    error = next(n for n, a in graph.nodes(data=True) if a["kind"] == "error")
    click_node(page, error)
    assert "FVU of its SAE" in card.inner_text() and card.locator("li.context").count() == 0
    assert f"{graph.nodes[error]['fvu']:.4g}" in card.inner_text()
    hostile = next(n for n, a in graph.nodes(data=True) if HOSTILE in str(a.get("contexts")))
    page.evaluate("(id) => window.circuitView.select(window.circuitView.nodeIndex(id))", hostile)
    assert HOSTILE in card.locator("li.context mark").first.inner_text()
    page.screenshot(path=str(tmp_path / "card.png"))
    assert (tmp_path / "card.png").stat().st_size > 10_000
    assert page.errors == []
    page.close()


def test_browser_controls_change_what_is_drawn(browser, graph, page_file):
    page = open_view(browser, page_file)
    effects = sorted(abs(a["effect"]) for _, a in graph.nodes(data=True) if a["kind"] != "metric")
    node_t = effects[len(effects) // 2]
    set_threshold(page, "node", node_t)
    edge_t = graph.graph["edge_threshold"]
    assert drawn_points(page) == _expected_nodes(graph, node_t) < graph.number_of_nodes()
    assert drawn_segments(page) == _expected_edges(graph, node_t, edge_t)
    set_threshold(page, "edge", 0.2)
    assert drawn_segments(page) == _expected_edges(graph, node_t, 0.2)
    page.locator(".kind-filter[value=error]").uncheck()
    settle(page)
    kinds = ("embed", "attn", "mlp", "resid")
    assert drawn_points(page) == _expected_nodes(graph, node_t, kinds)
    # the slider moves the threshold too (log scale), and redraws
    page.locator("#node-slider").fill("1000")
    settle(page)
    assert float(page.locator("#node-threshold").input_value()) == pytest.approx(effects[-1], 1e-2)
    assert drawn_points(page) <= 2
    assert page.errors == []
    page.close()


def test_browser_search_by_feature_id_and_by_token(browser, graph, page_file):
    page = open_view(browser, page_file)
    target = graph.graph["ablated"][1]
    a = graph.nodes[target]
    short = re.sub(r"_out_layer", "", a["submodule"])
    search = page.locator("#search")
    search.fill(f"{short} #{a['feature']}")
    settle(page)
    assert page.locator("#search-result").get_attribute("data-matches") == "1"
    search.press("Enter")
    page.wait_for_function(
        "(id) => document.getElementById('card').dataset.node === id", arg=target
    )
    word = "hospital"
    expected = sum(
        1
        for _, b in graph.nodes(data=True)
        if any(word in c["text"] for c in b.get("contexts") or [])
        or any(word in t for t in b.get("top_tokens") or [])
    )
    search.fill(word.upper())
    settle(page)
    assert page.locator("#search-result").get_attribute("data-matches") == str(expected)
    assert drawn_points(page, "overlay") >= expected
    assert page.errors == []
    page.close()
