"""`shift circuit view` and `shift circuit export`: a circuit JSON as an interactive page, and in
Neuronpedia's attribution-graph schema.

    shift circuit view runs/demo/circuit.json                  (writes runs/demo/circuit.html)
    shift circuit export runs/demo/circuit.json --format neuronpedia --out graph.json

Both read only the circuit file (`circuits.graph`): no model, no SAEs. The page shows what the
file holds: a circuit from `shift run` carries ten top-activating contexts per feature, the FVU of
each error node's SAE and the features the run's edit ablated (`circuits.view`).
"""

from __future__ import annotations

from pathlib import Path

import click

from shift import validate
from shift.commands.options import path_option

FORMATS = ("neuronpedia",)


@click.command()
@click.argument("circuit_json", type=click.Path(path_type=Path))
@path_option("--out", help="HTML file to write [default: CIRCUIT_JSON with .html].")
@click.option(
    "--renderer",
    type=click.Choice(["auto", "webgl", "svg"]),
    default="auto",
    show_default=True,
    help="Plotly's WebGL or SVG traces; auto takes WebGL on a hardware GPU, else SVG.",
)
@click.option(
    "--max-edges",
    type=click.IntRange(min=1),
    default=2000,
    show_default=True,
    help="The page opens at the edge threshold that draws this many of the strongest edges.",
)
@click.option("--title", default=None, help="Page title [default: the circuit's metric].")
def view(circuit_json, out, renderer, max_edges, title):
    """Write a self-contained HTML explorer of a circuit (opens from disk, no network)."""
    from circuits.graph import load_graph
    from circuits.view import write_circuit_view

    graph = load_graph(circuit_json)
    out = out or circuit_json.with_suffix(".html")
    validate.writable_dir(out.parent, "--out's folder")
    write_circuit_view(graph, out, title=title, renderer=renderer, max_edges=max_edges)
    n = graph.number_of_nodes()
    click.echo(f"wrote {out}: {n} nodes, {graph.number_of_edges()} edges (open it in a browser)")


@click.command()
@click.argument("circuit_json", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    required=True,
    help="neuronpedia: Neuronpedia's attribution-graph JSON schema (circuit-tracer's format).",
)
@path_option("--out", help="JSON file to write [default: CIRCUIT_JSON with .FORMAT.json].")
@click.option("--slug", default=None, help="The graph's slug [default: the circuit file's name].")
@click.option(
    "--scan", default=None, help="Model id for the viewer [default: the circuit's model]."
)
def export(circuit_json, fmt, out, slug, scan):
    """Write a circuit in another tool's graph format."""
    from circuits.graph import load_graph
    from circuits.neuronpedia import export_neuronpedia

    graph = load_graph(circuit_json)
    out = out or circuit_json.with_suffix(f".{fmt}.json")
    validate.writable_dir(out.parent, "--out's folder")
    export_neuronpedia(graph, out, slug=slug or circuit_json.stem, scan=scan)
    click.echo(f"wrote {out} ({fmt} attribution graph)")
