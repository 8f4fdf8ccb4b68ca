"""Circuits on the micro world's trained model: IG against exact patching, and the CLI."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import save_file
from scipy.stats import spearmanr

from circuits import (
    Baseline,
    EffectConfig,
    ThresholdConfig,
    compute_circuit,
    compute_means,
    exact_effects,
    load_graph,
    node_effects,
    probe_metric,
    render_circuit,
)
from ssae.errors import ToolkitError
from ssae.models import load_model
from tests.circuits.circuit_helpers import fit_random_saes

PROBE_LAYER = "resid_out_layer3"
TOP = 40


@pytest.fixture(scope="module")
def world(micro_world):
    lm = load_model(str(micro_world.model))
    bib = pd.read_parquet(micro_world.bib / "train.parquet")
    texts = bib.hard_text.tolist()[:8]
    batch = lm.tokenize(texts, max_length=32)
    batch["labels"] = torch.tensor(bib.gender.tolist()[:8])
    names = [s.name for s in lm.submodules(layers=range(4))]
    saes, fvu = fit_random_saes(lm, names, batch, width=4 * lm.d_model)
    g = torch.Generator().manual_seed(0)
    w = torch.randn(lm.d_model, generator=g)
    metric = probe_metric(4 * w / w.norm(), 0.0, reads=PROBE_LAYER)
    return dict(lm=lm, batch=batch, saes=saes, fvu=fvu, metric=metric, bib=bib, paths=micro_world)


def _value(effects, node):
    name, j = node
    return float(effects.errors[name] if j == "error" else effects.features[name][j])


@pytest.mark.parametrize("baseline", ["zero", "mean"])
def test_ig_ranks_nodes_like_exact_patching(world, baseline):
    lm, saes, batch, metric = world["lm"], world["saes"], world["batch"], world["metric"]
    assert max(world["fvu"].values()) < 0.5  # the SAEs reconstruct most of the variance
    means = compute_means(lm, saes, [batch]) if baseline == "mean" else {}
    base = Baseline(baseline, means)
    ig, _ = node_effects(
        lm, saes, [batch], metric, EffectConfig(steps=10, baseline=base), progress=False
    )
    nodes = sorted(ig.nodes(), key=lambda r: -abs(r[3]))[:TOP]
    top = [(name, j) for name, j, _, _ in nodes]
    exact = exact_effects(
        lm, saes, [batch], metric, EffectConfig(baseline=base), nodes=top, progress=False
    )
    truth = [_value(exact, n) for n in top]
    rho = {"ig": spearmanr([_value(ig, n) for n in top], truth).statistic}
    for label, cfg in {
        "attrib": EffectConfig(method="attrib", baseline=base),
        "ig_joint": EffectConfig(steps=10, ig_mode="joint", baseline=base),
    }.items():
        est, _ = node_effects(lm, saes, [batch], metric, cfg, progress=False)
        rho[label] = spearmanr([_value(est, n) for n in top], truth).statistic
    print(f"Spearman with exact patching over the top {TOP} nodes ({baseline}):", rho)
    # Bound: unrelated rankings of 40 nodes have Spearman sd ~ 1/sqrt(39) = 0.16, so 0.6 is
    # > 3.5 sd above chance. IG cannot reach 1: it integrates along the path on which all
    # features of a submodule move together, while exact patching moves one node. On the micro
    # LM of 0.5 epochs it measured 0.84 (zero) and 0.89 (mean); on the recalibrated one (2
    # epochs, a less linear model) 0.70 (mean); attribution 0.87-1.0 and joint IG 0.60-0.78
    # (single features of these dense random SAEs are small perturbations, where the clean
    # gradient is the better first-order estimate).
    assert rho["ig"] > 0.6, rho
    assert rho["attrib"] > 0.75 and rho["ig_joint"] > 0.5, rho


def test_circuit_annotation_and_picture(world, tmp_path):
    from circuits import annotate_circuit

    lm, saes = world["lm"], world["saes"]
    c = compute_circuit(
        lm,
        saes,
        [world["batch"]],
        world["metric"],
        EffectConfig(steps=4),
        ThresholdConfig(node_threshold=0.02, edge_threshold=0.005),
        progress=False,
    )
    texts = world["bib"].hard_text.tolist()[:40]
    annotate_circuit(c.graph, lm, saes, texts, k_contexts=2, progress=False)
    feats = [a for _, a in c.graph.nodes(data=True) if a["kind"] == "feature"]
    assert feats and all(a["top_tokens"] and "contexts" in a for a in feats)
    assert any(a["contexts"] for a in feats)
    svg = render_circuit(c.graph, tmp_path / "c.svg").read_text()
    assert svg.count('class="node"') >= min(len(c.graph), 12)


def _write_inputs(world, tmp_path):
    from ssae.sae_set import SAESet

    lm = world["lm"]
    specs = [s for s in lm.submodules() if s.name in world["saes"]]
    SAESet(world["saes"], specs).save(tmp_path / "saes")
    bib = world["bib"]
    rows = [
        {
            "text": t,
            "patch": bib.hard_text.iloc[i + 10],
            "label": int(g),
            "correct": " he",
            "incorrect": " she",
        }
        for i, (t, g) in enumerate(zip(bib.hard_text[:4], bib.gender[:4], strict=True))
    ]
    (tmp_path / "data.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    w = torch.randn(1, lm.d_model, generator=torch.Generator().manual_seed(1))
    save_file(
        {"weight": w, "bias": torch.zeros(1)},
        str(tmp_path / "probe.safetensors"),
        metadata={"submodule": PROBE_LAYER},
    )


def test_cli_compute_and_render(world, tmp_path):
    from shift.commands.circuit import circuit

    _write_inputs(world, tmp_path)
    runner = CliRunner()
    common = [
        "--model",
        str(world["paths"].model),
        "--sae-folder",
        str(tmp_path / "saes"),
        "--data",
        str(tmp_path / "data.jsonl"),
        "--steps",
        "2",
        "--batch-size",
        "2",
        "--max-length",
        "24",
    ]
    args = [
        "compute",
        *common,
        "--metric",
        f"probe:{tmp_path / 'probe.safetensors'}",
        "--node-threshold",
        "0.01",
        "--edge-threshold",
        "0.001",
        "--out",
        str(tmp_path / "c.json"),
    ]
    res = runner.invoke(circuit, args)
    assert res.exit_code == 0, res.output + repr(res.exception)
    g = load_graph(tmp_path / "c.json")
    assert g.graph["metric_reads"] == PROBE_LAYER and g.graph["n_examples"] == 4
    assert any(a.get("top_tokens") for _, a in g.nodes(data=True))
    again = runner.invoke(circuit, args)
    assert again.exit_code == 0 and "already holds" in again.output

    res = runner.invoke(
        circuit,
        [
            "compute",
            *common,
            "--metric",
            "logit-diff",
            "--baseline",
            "patch",
            "--method",
            "attrib",
            "--no-annotate",
            "--node-threshold",
            "0.01",
            "--out",
            str(tmp_path / "d.json"),
        ],
    )
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert load_graph(tmp_path / "d.json").graph["baseline"] == "patch"

    labels = tmp_path / "labels.jsonl"
    feats = [(abs(a["effect"]), n) for n, a in g.nodes(data=True) if a["kind"] == "feature"]
    some = max(feats)[1]  # drawn whatever the row limit
    labels.write_text(json.dumps({"feature": some, "label": "my label"}) + "\n")
    for out in ("g.svg", "g.png"):
        res = runner.invoke(
            circuit,
            [
                "render",
                str(tmp_path / "c.json"),
                "--out",
                str(tmp_path / out),
                "--labels",
                str(labels),
            ],
        )
        assert res.exit_code == 0, res.output + repr(res.exception)
    assert "my label" in (tmp_path / "g.svg").read_text()
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"

    bad = runner.invoke(
        circuit, ["compute", *common, "--metric", "bogus", "--out", str(tmp_path / "e.json")]
    )
    assert isinstance(bad.exception, ToolkitError)
