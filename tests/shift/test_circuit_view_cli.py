"""`shift circuit view` and `shift circuit export`: files written from a circuit JSON alone, and
one-line errors for bad input."""

from __future__ import annotations

import json

import pytest

from circuits.graph import save_graph
from circuits.synthetic import synthetic_circuit
from shift.cli import main


@pytest.fixture(scope="module")
def circuit_file(tmp_path_factory):
    g = synthetic_circuit(n_features=30, n_edges=120, n_layers=2, seed=3)
    g.graph["ablated"] = [n for n, a in g.nodes(data=True) if a["kind"] == "feature"][:2]
    return save_graph(g, tmp_path_factory.mktemp("c") / "circuit.json")


def _fails(argv, capsys, code: int = 1) -> str:
    """The error line of a failed command (click's usage errors print the usage above it)."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == code and "Traceback" not in err, err
    assert code == 2 or "\n" not in err, err
    return err.splitlines()[-1]


def test_view_writes_the_page_beside_the_json_by_default(circuit_file, capsys):
    main(["circuit", "view", str(circuit_file)])
    page = circuit_file.with_suffix(".html")
    assert "wrote" in capsys.readouterr().out and page.stat().st_size > 1_000_000  # Plotly inside
    text = page.read_text(encoding="utf-8")
    data = json.loads(text.split('id="circuit-data">', 1)[1].split("</script>", 1)[0])
    assert len(data["nodes"]) == 30 + 7 + 1 and data["meta"]["renderer"] == "auto"
    assert sum(1 for n in data["nodes"] if n.get("a")) == 2


def test_view_options(circuit_file, tmp_path):
    out = tmp_path / "deep" / "v.html"
    argv = ["circuit", "view", str(circuit_file), "--out", str(out), "--renderer", "svg"]
    main([*argv, "--max-edges", "10", "--title", "My circuit"])
    text = out.read_text(encoding="utf-8")
    assert "<title>My circuit</title>" in text and '"renderer":"svg"' in text


def test_export_neuronpedia(circuit_file, tmp_path, capsys):
    out = tmp_path / "np.json"
    main(["circuit", "export", str(circuit_file), "--format", "neuronpedia", "--out", str(out)])
    doc = json.loads(out.read_text())
    assert doc["metadata"]["slug"] == "circuit" and len(doc["qParams"]["pinnedIds"]) == 2
    assert {"metadata", "qParams", "nodes", "links"} <= set(doc)
    main(["circuit", "export", str(circuit_file), "--format", "neuronpedia", "--scan", "m"])
    assert (
        json.loads(circuit_file.with_suffix(".neuronpedia.json").read_text())["metadata"]["scan"]
        == "m"
    )


def test_bad_input_is_one_line(circuit_file, tmp_path, capsys):
    err = _fails(["circuit", "view", str(tmp_path / "none.json")], capsys)
    assert err.startswith("Error: ") and "does not exist" in err
    bad = tmp_path / "bad.json"
    bad.write_text('{"nodes": []}')
    err = _fails(["circuit", "export", str(bad), "--format", "neuronpedia"], capsys)
    assert err.startswith("Error: ") and "not a circuit file" in err
    err = _fails(["circuit", "export", str(circuit_file), "--format", "dot"], capsys, code=2)
    assert "'dot' is not 'neuronpedia'" in err
    err = _fails(["circuit", "view", str(circuit_file), "--max-edges", "0"], capsys, code=2)
    assert "--max-edges" in err
