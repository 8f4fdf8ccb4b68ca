def test_control_characters_in_labels_render():
    """Byte-level tokens can decode to control characters; dot must still accept the label."""
    import networkx as nx

    from circuits.render import printable, to_dot

    assert printable("a\x12b\x00") == "a\\x12b\\x00"
    g = nx.DiGraph(metric="m")
    g.add_node("metric", kind="metric", effect=0.0, label="m", submodule="metric")
    g.add_node(
        "resid_out_layer0/1",
        kind="feature",
        effect=0.5,
        submodule="resid_out_layer0",
        feature=1,
        label="\x12 sle\x07",
    )
    g.add_edge("resid_out_layer0/1", "metric", weight=0.5)
    svg = to_dot(g).pipe(format="svg").decode()
    assert "\\x12 sle\\x07" in svg
