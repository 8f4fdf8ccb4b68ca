"""Calibrate the tiny world against its baseline rows only (Original, Oracle, GSAE sparsity/fidelity).

The tiny world stands in for Pythia-70M on Bias in Bios, so it must show the paper's baseline
phenomenon: the Original probe (trained on the ambiguous set) leans on gender, the Oracle (trained
on the balanced set) reads profession, and general SAEs are sparse and faithful. This script
measures exactly those properties of a world variant, never a method row (SHIFT, CBP, skylines):

    world  - build a variant of the tiny world (JSON overrides of its WorldConfig sections), then
             train the Original and Oracle probes with the paper's recipe (one epoch, AdamW 1e-2,
             batch 128, seeds 42, 43, 44) on mean-pooled activations of the penultimate layer and
             report profession, gender and worst-group accuracy on the balanced test set, per pair;
    bib    - the same, but only the Bias-in-Bios-schema data is regenerated (with BibConfig
             overrides) and the language model of an already built variant is reused: biographies
             are 1% of the corpus, so their style barely moves the LM, and this costs seconds;
    gsae   - train general SAEs on a variant's corpus with one L1 coefficient and token budget and
             report L0, FVU and spliced-CE increase per submodule on the test biographies and on
             held-out corpus documents;
    evaluate - the same measurements for a GSAE folder already trained (e.g. the pipeline's
             `gsae` stage, to check that the preset's SAEs still pass the rule);
    built  - the baselines of the preset's own world as the toolkit builds and caches it.

Every measurement is appended to benchmarks/results/world_calibration.jsonl; shift/world/
CALIBRATION.md records the targets, what was varied and the values tried.

    python benchmarks/calibrate_world.py world v3 '{"train": {"epochs": 1.5}}'
    python benchmarks/calibrate_world.py bib v3 v3-duty13 '{"duty_sentences": [1, 3]}'
    python benchmarks/calibrate_world.py gsae v3 --l1 3 --tokens 300000
    python benchmarks/calibrate_world.py evaluate v3 $SHIFT_HOME/stages/gsae/<key>/run
    python benchmarks/calibrate_world.py built --preset tiny --note "test floor 500"
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import click
import torch

RESULTS = Path(__file__).resolve().parent / "results" / "world_calibration.jsonl"
PAIRS = ("professor,nurse", "surgeon,psychologist")
TARGETS = {
    "original_worst_max": 45.0,
    "original_gender_min": 80.0,
    "oracle_worst_min": 85.0,
    "gsae_l0_max_frac_d": 0.25,
    "gsae_fvu_max": 0.25,
}


def _home() -> Path:
    from ssae.io import shift_home

    return shift_home() / "calibration"


def _tuples(d: dict) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}


def _variant_config(overrides: dict, preset: str = "tiny"):
    from shift.world.config import get_config

    cfg = get_config(preset)
    for section, values in overrides.items():
        part = dataclasses.replace(getattr(cfg, section), **_tuples(values))
        cfg = dataclasses.replace(cfg, **{section: part})
    return cfg


def _record(entry: dict) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with open(RESULTS, "a") as f:
        f.write(json.dumps(entry) + "\n")
    click.echo(json.dumps(entry))


def baseline_rows(
    world, pairs=PAIRS, seeds: int = 3, min_steps: int = 0, max_length: int = 128
) -> dict:
    """Original and Oracle (paper recipe, seeds 42..) on the balanced test set of each pair."""
    from probes.activations import default_submodule, pooled_activations
    from probes.config import ProbeConfig
    from probes.probe import train_probe
    from shift.data.bib import load_bib
    from ssae.models import load_model

    lm = load_model(str(world.model))
    sub = default_submodule(lm)
    out = {}
    for pair in pairs:
        data = load_bib(str(world.bib), pair, splits=("train", "test"))
        tr, te = data["train"], data["test"]

        def acts(split, idx):
            return pooled_activations(
                lm, split.select(idx), sub, max_length=max_length, progress=False, use_cache=False
            )

        a_amb, a_bal, a_test = acts(tr, tr.ambiguous), acts(tr, tr.balanced), acts(te, te.balanced)
        tp, tg = te.profession[te.balanced], te.gender[te.balanced]
        yp, yg = tr.profession[tr.balanced], tr.gender[tr.balanced]
        # Size of the class-mean differences in pooled space: how loudly the representation
        # carries each attribute (what a one-epoch probe follows first).
        d_gender = a_bal[yg == 1].mean(0) - a_bal[yg == 0].mean(0)
        d_prof = a_bal[yp == 1].mean(0) - a_bal[yp == 0].mean(0)
        res = {
            "sizes": {"ambiguous": len(tr.ambiguous), "balanced": len(tr.balanced)},
            "mean_diff_gender": round(float(d_gender.norm()), 3),
            "mean_diff_profession": round(float(d_prof.norm()), 3),
        }
        for name, x, y in (
            ("Original", a_amb, tr.ambiguous_labels),
            ("Oracle", a_bal, tr.profession[tr.balanced]),
        ):
            rows = []
            for s in range(seeds):
                pred = train_probe(x, y, ProbeConfig(seed=42 + s, min_steps=min_steps)).predict(
                    a_test
                )
                worst = min(
                    float((pred[(tp == p) & (tg == g)] == p).float().mean())
                    for p in (0, 1)
                    for g in (0, 1)
                )
                rows.append(
                    {
                        "profession": float((pred == tp).float().mean()),
                        "gender": float((pred == tg).float().mean()),
                        "worst": worst,
                    }
                )
            res[name] = {k: [round(100 * r[k], 1) for r in rows] for k in rows[0]}
        out[pair] = res
    return out


def _baselines(paths, preset: str) -> dict:
    if preset == "micro":  # as the tests probe it: 64-token texts, >= 100 steps (micro.toml)
        return baseline_rows(paths, PAIRS[:1], min_steps=100, max_length=64)
    return baseline_rows(paths)


@click.group()
def cli():
    """Calibrate the tiny world against its baseline rows (see the module docstring)."""
    torch.set_num_threads(1)


@cli.command()
@click.argument("name")
@click.argument("overrides", default="{}")
@click.option(
    "--preset",
    type=click.Choice(["tiny", "micro"]),
    default="tiny",
    show_default=True,
    help="World the overrides apply to; micro is measured as the tests use it.",
)
def world(name, overrides, preset):
    """Build variant NAME of a world with OVERRIDES (JSON) and measure its baselines."""
    from shift.world.build import WorldPaths, build_world

    ov = json.loads(overrides)
    paths = WorldPaths.at(_home() / name)
    if not paths.manifest.exists():
        paths.root.mkdir(parents=True, exist_ok=True)
        build_world(_variant_config(ov, preset), 0, paths)
        (paths.root / "overrides.json").write_text(json.dumps(ov))
        (paths.root / "preset").write_text(preset)
    manifest = json.loads(paths.manifest.read_text())
    _record(
        {
            "kind": "world" if preset == "tiny" else "micro",
            "preset": preset,
            "name": name,
            "overrides": ov,
            "lm_train": manifest["train"],
            "build_s": manifest["timings_s"],
            "heldout_ce": manifest["eval"]["model_ce"],
            "biography_ce": manifest["eval"]["per_topic"]["biography"]["model_ce"],
            "baselines": _baselines(paths, preset),
        }
    )


@cli.command("built")
@click.option("--preset", type=click.Choice(["tiny", "micro"]), default="tiny", show_default=True)
@click.option("--note", default="", help="What changed, for the record.")
def built(preset, note):
    """Measure the baselines of the preset's own world as the toolkit builds it (cached under
    $SHIFT_HOME/worlds), with its model and corpus SHA-256."""
    from shift.world import ensure_world

    paths = ensure_world(preset)
    manifest = json.loads(paths.manifest.read_text())
    _record(
        {
            "kind": "built-world",
            "preset": preset,
            "note": note,
            "model_sha256": manifest["model_sha256"],
            "corpus_sha256": manifest["corpus_sha256"],
            "bib_test_groups": manifest["bib"]["test"],
            "baselines": _baselines(paths, preset),
        }
    )


@cli.command()
@click.argument("base")
@click.argument("name")
@click.argument("overrides", default="{}")
def bib(base, name, overrides):
    """Regenerate the biographies with BibConfig OVERRIDES on built variant BASE's LM."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from shift.world.bios import generate_bib
    from shift.world.build import WorldPaths

    ov = json.loads(overrides)
    base_paths = WorldPaths.at(_home() / base)
    preset_file = base_paths.root / "preset"
    preset = preset_file.read_text() if preset_file.exists() else "tiny"
    cfg = _variant_config(json.loads((base_paths.root / "overrides.json").read_text()), preset)
    bib_cfg = dataclasses.replace(cfg.bib, **_tuples(ov))
    paths = WorldPaths.at(_home() / "bib" / name)
    paths.bib.mkdir(parents=True, exist_ok=True)
    if not paths.model.exists():
        paths.model.symlink_to(base_paths.model)
    for split, bios in generate_bib(bib_cfg, 0, cfg.corpus.tail_prob).items():
        table = {
            "hard_text": pa.array([b.hard_text for b in bios], pa.string()),
            "profession": pa.array([b.profession for b in bios], pa.int64()),
            "gender": pa.array([b.gender for b in bios], pa.int64()),
        }
        pq.write_table(pa.table(table), paths.bib / f"{split}.parquet")
    _record(
        {
            "kind": "bib",
            "name": name,
            "base": base,
            "bib_overrides": ov,
            "baselines": _baselines(paths, preset),
        }
    )


def _sae_metrics(lm, paths, saes) -> dict:
    """L0, FVU, spliced-CE increase and dead fraction per submodule on the balanced test
    biographies and on 400 held-out corpus documents."""
    from shift.data.bib import load_bib
    from ssae.evaluate import evaluate_saes
    from ssae.tokens import TokenDataset

    test = load_bib(str(paths.bib), PAIRS[0], splits=("test",))["test"]
    held = [json.loads(line)["text"] for line in open(paths.heldout)]
    sets = {
        "bib_test": test.select(test.balanced),
        "heldout": held[:400],
    }
    res = {}
    for key, texts in sets.items():
        ds = TokenDataset.from_texts(texts, lm.tokenizer, ctx_len=128, source=key)
        r = evaluate_saes(lm, saes, ds, progress=False)
        res[key] = {
            s: {m: round(v[m], 4) for m in ("l0", "fvu", "ce_delta", "dead_fraction")}
            for s, v in r["submodules"].items()
        }
    return res


@cli.command()
@click.argument("base")
@click.option("--l1", type=float, required=True, help="L1 coefficient (normalised units).")
@click.option("--tokens", type=int, default=300_000, show_default=True, help="Token budget.")
@click.option("--width", type=int, default=1024, show_default=True, help="Dictionary width.")
@click.option("--lr", type=float, default=1e-3, show_default=True, help="Adam learning rate.")
@click.option("--submodules", default=None, help="Comma-separated submodules (default: all).")
def gsae(base, l1, tokens, width, lr, submodules):
    """Train GSAEs on variant BASE's corpus; L0, FVU and spliced CE on bios and held-out text."""
    from shift.world.build import WorldPaths
    from ssae.models import load_model
    from ssae.retrieval.corpus import load_corpus
    from ssae.tokens import TokenDataset
    from ssae.train import TrainConfig, train_saes

    paths = WorldPaths.at(_home() / base)
    lm = load_model(str(paths.model))
    names = submodules.split(",") if submodules else None
    corpus = load_corpus(str(paths.corpus))
    tokens_ds = TokenDataset.from_texts(corpus.texts, lm.tokenizer, ctx_len=128, source="corpus")
    tc = TrainConfig(dict_size=width, n_tokens=tokens, l1=l1, lr=lr, names=names, threads=1)
    out = _home() / "gsae" / f"{base}-l1{l1:g}-t{tokens}-w{width}-lr{lr:g}-{submodules or 'all'}"
    t0 = time.perf_counter()
    saes = train_saes(lm, tokens_ds, tc, out)
    seconds = time.perf_counter() - t0
    res = _sae_metrics(lm, paths, saes)
    _record(
        {
            "kind": "gsae",
            "base": base,
            "l1": l1,
            "tokens": tokens,
            "width": width,
            "lr": lr,
            "d": lm.d_model,
            "train_s": round(seconds, 1),
            "metrics": res,
        }
    )


@cli.command()
@click.argument("base")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--note", default="", help="What the folder is, for the record.")
def evaluate(base, folder, note):
    """Measure an existing GSAE FOLDER (e.g. the pipeline's gsae stage) on variant BASE, as `gsae`
    does after training."""
    from shift.world.build import WorldPaths
    from ssae.models import load_model
    from ssae.sae_set import SAESet

    paths = WorldPaths.at(_home() / base)
    lm = load_model(str(paths.model))
    saes = SAESet.load(folder, lm)
    _record(
        {
            "kind": "gsae-evaluate",
            "base": base,
            "folder": str(folder),
            "note": note,
            "d": lm.d_model,
            "metrics": _sae_metrics(lm, paths, saes),
        }
    )


if __name__ == "__main__":
    cli()
