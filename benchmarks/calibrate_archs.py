"""Calibrate each SAE architecture's sparsity setting on the tiny world, by a rule fixed before any
candidate is trained and before any method row of a candidate is run.

The rule (issue 28, item 5; shift/world/CALIBRATION.md, "SAE architectures"):

1. Target. L* is the held-out mean L0 of the tiny preset's ReLU GSAEs (its `[gsae]` recipe, SAE
   seed 0), trained after the seeding fix (each SAE's randomness from (seed, submodule name)):
   the mean over the 16 edited submodules of each SAE's mean L0 on 400 held-out corpus documents.
2. Candidates, per architecture, everything else of `[gsae]` unchanged (1M tokens, lr 3e-3,
   warm-up, decay, width 1024, SAE seed 0, the same data order):
   - topk: k = round(L*)                                  (TopK's L0 is k by construction)
   - batchtopk, matryoshka, ortsae: k in {round(0.8 L*), round(L*), round(1.25 L*)}
   - jumprelu: target_l0 in {0.8 L*, L*, 1.25 L*}
   - random-decoder: L1 in {lambda/2, lambda, 2 lambda}, lambda the ReLU recipe's L1 (3)
   Every other setting of an architecture is its reference implementation's default
   (ssae.arch_config.ArchConfig records each and where it departs).
3. Choice. Among the candidates whose held-out mean L0 is within 10% of L*, the one with the
   lowest held-out mean FVU over the 16 submodules.
4. If no candidate is within 10%, the grid is extended, at most 3 times: one step beyond the end
   nearer to the target (x1.25 or x0.8 for k and target_l0, x0.5 or x2 for L1), or, when the
   candidates straddle the band, the geometric mean of the two nearest. An architecture still
   outside the band after that is reported as not calibrated and gets no setting in the preset.

Measured per candidate and submodule on the held-out documents: L0, FVU, spliced cross-entropy
increase and dead fraction (`calibrate_world._sae_metrics`'s held-out part), and the training
time. Every candidate is trained through the pipeline's own `gsae` stage, so the chosen setting,
once written into shift/presets/tiny.toml as an `[[archs]]` entry, is already cached for
`shift run --arch NAME`. Results: benchmarks/results/sae_archs_tiny.json.

    python benchmarks/calibrate_archs.py target
    python benchmarks/calibrate_archs.py candidates batchtopk
    python benchmarks/calibrate_archs.py choose            # prints the [[archs]] tables
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

import click

RESULTS = Path(__file__).resolve().parent / "results" / "sae_archs_tiny.json"
BAND = 0.10
MAX_EXTENSIONS = 3
HELDOUT_DOCS = 400
GRIDS = {
    "topk": ("k", (1.0,)),
    "batchtopk": ("k", (0.8, 1.0, 1.25)),
    "matryoshka": ("k", (0.8, 1.0, 1.25)),
    "ortsae": ("k", (0.8, 1.0, 1.25)),
    "jumprelu": ("target_l0", (0.8, 1.0, 1.25)),
    "random-decoder": ("l1", (0.5, 1.0, 2.0)),
}
"""Architecture -> (the setting varied, its candidate values as multiples of L* or of lambda)."""


def _load() -> dict:
    if RESULTS.exists():
        return json.loads(RESULTS.read_text())
    return {"rule": __doc__.split("The rule")[1].split("Measured per")[0].strip(), "runs": []}


def _add_run(run: dict, **fields) -> dict:
    """Record `run` (replacing one of the same label) and `fields`, under a lock: several
    architectures are calibrated by parallel processes."""
    from filelock import FileLock

    from ssae.io import write_json

    with FileLock(str(RESULTS) + ".lock"):
        record = _load()
        record["runs"] = [r for r in record["runs"] if r["label"] != run["label"]] + [run]
        record.update(fields)
        write_json(RESULTS, record)
    return record


def _context():
    """A stage context on the tiny preset with no run configuration (as the studies open it)."""
    from shift.cache import StageRunner
    from shift.presets import get_preset
    from shift.stages.context import RunContext
    from ssae.models import load_model

    preset = get_preset("tiny").resolve()
    lm = load_model(preset.model)
    runner = StageRunner(quiet=False)
    return RunContext(
        cfg=None, method=None, preset=preset, lm=lm, bib=None, runner=runner, bib_key=""
    )


def _measure(ctx, recipe, label: str) -> dict:
    """Train (or find cached) the GSAEs of `recipe` through the `gsae` stage; held-out metrics."""
    import torch

    from shift.stages.dictionaries import run_gsae
    from shift.world.build import WorldPaths
    from ssae.evaluate import evaluate_saes
    from ssae.sae_set import SAESet
    from ssae.tokens import TokenDataset

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    gsae = run_gsae(ctx, recipe)
    seconds = time.perf_counter() - t0
    saes = SAESet.load(gsae.dir, ctx.lm, names=ctx.preset.submodule_names)
    paths = WorldPaths.at(Path(ctx.preset.model).parent)
    held = [json.loads(line)["text"] for line in open(paths.heldout)][:HELDOUT_DOCS]
    ds = TokenDataset.from_texts(held, ctx.lm.tokenizer, ctx_len=128, source="heldout")
    r = evaluate_saes(ctx.lm, saes, ds, progress=False)
    per = {
        s: {m: round(v[m], 4) for m in ("l0", "fvu", "ce_delta", "dead_fraction")}
        for s, v in r["submodules"].items()
    }
    return {
        "label": label,
        "arch": dataclasses.asdict(recipe.arch),
        "l1": recipe.l1,
        "seed": recipe.seed,
        "stage_key": gsae.key,
        "train_s": round(seconds, 1),
        "heldout": per,
        "mean_l0": round(sum(v["l0"] for v in per.values()) / len(per), 3),
        "mean_fvu": round(sum(v["fvu"] for v in per.values()) / len(per), 4),
        "max_fvu": max(v["fvu"] for v in per.values()),
        "mean_ce_delta": round(sum(v["ce_delta"] for v in per.values()) / len(per), 4),
        "max_dead_fraction": max(v["dead_fraction"] for v in per.values()),
    }


@click.group()
def cli():
    """Calibrate SAE architectures by the rule in this module's docstring."""


@cli.command()
def target():
    """Train (or find) the preset's ReLU GSAEs and record L*, their held-out mean L0."""
    ctx = _context()
    recipe = ctx.preset.gsae_recipe(None, 0)
    run = _measure(ctx, recipe, "relu (the preset's [gsae])")
    target = {"mean_l0": run["mean_l0"], "l1": recipe.l1, "stage_key": run["stage_key"]}
    _add_run(run, target=target)
    click.echo(f"L* = {run['mean_l0']} (mean FVU {run['mean_fvu']}, {run['train_s']} s)")


def _recipe(ctx, arch: str, setting: str, value: float):
    from ssae.arch_config import ArchConfig

    base = ctx.preset.gsae_recipe(None, 0)
    if setting == "l1":
        return dataclasses.replace(base, arch=ArchConfig(arch), l1=float(value))
    kw = {"k": int(value)} if setting == "k" else {"target_l0": float(value)}
    return dataclasses.replace(base, arch=ArchConfig(arch, **kw))


def _in_band(run: dict, goal: float) -> bool:
    return abs(run["mean_l0"] - goal) <= BAND * goal


def _next_value(setting: str, tried: dict[float, float], goal: float) -> float:
    """Rule step 4: the next candidate value from {value: measured mean L0}."""
    below = {v: l0 for v, l0 in tried.items() if l0 < goal}
    above = {v: l0 for v, l0 in tried.items() if l0 > goal}
    if below and above:  # straddled: geometric mean of the two nearest
        value = math.sqrt(max(below, key=below.get) * min(above, key=above.get))
    else:
        denser = bool(below)  # every candidate too sparse: move towards a denser code
        if setting == "l1":
            value = min(tried) * 0.5 if denser else max(tried) * 2.0
        else:
            value = max(tried) * 1.25 if denser else min(tried) * 0.8
    return round(value) if setting == "k" else value


@cli.command()
@click.argument("arch", type=click.Choice(sorted(GRIDS)))
def candidates(arch):
    """Train and measure ARCH's candidate grid (rule steps 2 and 4)."""
    record = _load()
    if "target" not in record:
        raise click.ClickException("run `target` first")
    goal, lam = record["target"]["mean_l0"], record["target"]["l1"]
    setting, mults = GRIDS[arch]
    scale = lam if setting == "l1" else goal
    values = [round(m * scale) if setting == "k" else m * scale for m in mults]
    ctx = _context()
    tried: dict[float, float] = {}
    for round_ in range(MAX_EXTENSIONS + 1):
        for value in values:
            if value in tried:
                continue
            label = f"{arch} {setting}={value:g}"
            run = _measure(ctx, _recipe(ctx, arch, setting, value), label)
            run["extension"] = round_
            record = _add_run(run)
            tried[value] = run["mean_l0"]
            click.echo(f"{label}: mean L0 {run['mean_l0']} FVU {run['mean_fvu']}", err=True)
        runs = [r for r in record["runs"] if r["label"].startswith(f"{arch} ")]
        if any(_in_band(r, goal) for r in runs) or round_ == MAX_EXTENSIONS:
            break
        values = [_next_value(setting, tried, goal)]


@cli.command()
def choose():
    """Apply rule step 3 to every architecture measured; record and print the choice."""
    record = _load()
    goal = record["target"]["mean_l0"]
    chosen = {}
    for arch in GRIDS:
        runs = [r for r in record["runs"] if r["label"].startswith(f"{arch} ")]
        ok = [r for r in runs if _in_band(r, goal)]
        if not runs:
            continue
        if not ok:
            nearest = min(runs, key=lambda r: abs(r["mean_l0"] - goal))
            chosen[arch] = {"calibrated": False, "nearest": nearest["label"]}
            continue
        best = min(ok, key=lambda r: r["mean_fvu"])
        chosen[arch] = {"calibrated": True, "label": best["label"], "arch": best["arch"]}
        chosen[arch]["l1"] = best["l1"]
    _add_run(record["runs"][0], choice=chosen)
    for arch, c in chosen.items():
        if not c["calibrated"]:
            click.echo(f"# {arch}: not calibrated (nearest {c['nearest']})")
            continue
        setting = GRIDS[arch][0]
        if setting == "l1":
            fields, l1 = f'name = "{arch}"', f"\nl1 = {c['l1']}"
        else:
            fields, l1 = f'name = "{arch}", {setting} = {json.dumps(c["arch"][setting])}', ""
        click.echo(f"[[archs]]  # {c['label']}\narch = {{ {fields} }}{l1}\n")


if __name__ == "__main__":
    cli()
