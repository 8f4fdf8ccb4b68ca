"""SHIFT end to end on Bias in Bios (Marks et al. 2024; SSAE variants from Muhamed et al. 2024).

Stages, each cached under a key of its inputs (`shift.cache`):

1. `probes`    - Original (probe on the ambiguous set), Oracle (balanced set) and CBP, evaluated on
                 the balanced test set.
2. `gsae`      - general SAEs for embed + attn/mlp/resid of the preset's layers: loaded from a
                 dictionary_learning folder, or trained on the corpus when the preset has none.
3. `retrieve`  - (SSAE variants) subdomain documents for a few BiB seed examples (dense retrieval).
4. `ssae`      - (SSAE variants) the GSAE set finetuned on the retrieved tokens (ERM or TERM).
5. `circuit`   - the classifier's circuit (IG on the negative logit of the correct class over the
                 ambiguous set), annotated and rendered, plus every feature's indirect effect on
                 the gender metric over the balanced set.
6. `skyline`   - the top-k gender features ablated for k = 1..K, k chosen by profession accuracy
                 on the balanced dev set (or features named in a file).
7. `shift`     - the chosen features ablated on the test set; the probe retrained on ablated
                 ambiguous-train activations.
8. `sae-eval`  - L0, FVU and spliced cross-entropy of the SAE set on the BiB test biographies.

The report (`results.json`, `results.md`, the circuit SVG/PNG, the sweep plot) is written to `--out`.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors.torch import load_file, save_file

from shift import validate
from shift.cache import StageRunner
from shift.presets import Preset, get_preset
from ssae.errors import ToolkitError
from ssae.io import stable_hash, write_json

if TYPE_CHECKING:  # imported where used: a bad option is refused before transformers loads
    from ssae.models import LoadedModel
    from ssae.sae_set import SAESet

SAE_VARIANTS = ("gsae", "ssae", "comp-gsae", "comp-ssae", "neurons")
DATASETS = ("bib",)
VARIANT_LABELS = {
    "gsae": "GSAE",
    "ssae": "SSAE",
    "comp-gsae": "Comp. GSAE",
    "comp-ssae": "Comp. SSAE",
    "neurons": "Neuron skyline",
}


@dataclass
class RunConfig:
    """Everything a `shift run` depends on."""

    dataset: str = "bib"
    """Task; only Bias in Bios (`bib`) for now."""
    sae: str = "ssae"
    """Dictionary variant: gsae, ssae, comp-gsae, comp-ssae, or neurons (the neuron skyline)."""
    preset: str = "paper"
    """`paper` (Pythia-70M-deduped, LabHC/bias_in_bios, Marks et al. SAEs) or `tiny`."""
    out: Path = Path("runs/shift")
    """Where the report is written."""
    tilt: float = 0.0
    """TERM tilt for SSAE finetuning (0 = ERM; the SSAE paper uses 500 and 1e9)."""
    seed: int = 0
    """Run seed: offsets the probe seed (42 + seed), picks the retrieval seed examples and
    orders the finetuning data. The dataset splits always use seed 42, as in the paper."""
    model: str | None = None
    """Override the preset's model (hub id or local directory)."""
    bib_path: str | None = None
    """Override the preset's Bias in Bios source (local file or directory in the LabHC schema)."""
    saes: str | None = None
    """Override the preset's general SAEs (folder in the dictionary_learning layout)."""
    corpus: str | None = None
    """Override the preset's retrieval/training corpus (jsonl/parquet file or hub id)."""
    professions: str = "professor,nurse"
    """Profession pair A,B (names or LabHC ids)."""
    retrieval: str = "dense"
    """Retrieval method: dense, bm25, dense+tracin, bm25+tracin."""
    features_file: str | None = None
    """A file of feature ids (`submodule/index` per line) to ablate instead of the skyline."""
    max_k: int = 200
    """The skyline sweeps k = 1..max_k."""
    circuit_examples: int = 128
    """Examples used for node effects (ambiguous set for the circuit, balanced for gender)."""
    ig_steps: int = 10
    """Integrated-gradient steps."""
    ig_mode: str = "per_submodule"
    """`per_submodule` (Marks et al.'s `_pe_ig`: `steps` passes per submodule) or `joint` (all
    submodules interpolated together: `steps` passes in all, ~10x faster, ranks nodes less like
    exact patching; see `circuits.effects`)."""
    node_threshold: float | None = None
    """Node threshold of the plotted circuit; None takes the preset's (paper: 0.1)."""
    edge_threshold: float | None = None
    """Edge threshold of the plotted circuit; None takes the preset's (paper: 0.01)."""
    max_per_group: int | None = None
    """Cap on each profession x gender group per split (quick runs); None = all."""
    labels: str | None = None
    """Optional JSONL of human feature labels for the circuit plot."""
    device: str = "auto"
    """`auto` (CUDA when available), `cpu` or `cuda`."""
    sae_eval: bool = True
    """Evaluate the SAEs (L0, FVU, spliced CE) on the test biographies."""
    force: tuple[str, ...] = ()
    """Stages to recompute even when cached."""
    verify: bool = False
    """Check cached artifacts by SHA-256 before reusing them (the size is always checked)."""

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise ToolkitError(
                f"unknown dataset {self.dataset!r}; available: {', '.join(DATASETS)}"
            )
        if self.sae not in SAE_VARIANTS:
            raise ToolkitError(
                f"unknown --sae {self.sae!r}; choose one of {', '.join(SAE_VARIANTS)}"
            )
        if self.max_k < 1 or self.circuit_examples < 1 or self.ig_steps < 1:
            raise ToolkitError("--max-k, --circuit-examples and --ig-steps must be >= 1")
        validate.check_values(self)
        unknown = set(self.force) - set(STAGES)
        if unknown:
            raise ToolkitError(
                f"--force names unknown stages {sorted(unknown)}; stages: {', '.join(STAGES)}"
            )
        self.out = Path(self.out)

    @property
    def uses_ssae(self) -> bool:
        return self.sae in ("ssae", "comp-ssae")

    @property
    def compressed(self) -> bool:
        """Compressed SHIFT: every dictionary cut to its first `compress_k` features."""
        return self.sae in ("comp-gsae", "comp-ssae")

    @property
    def method_label(self) -> str:
        label = VARIANT_LABELS[self.sae]
        if self.uses_ssae and self.tilt:
            label = label.replace("SSAE", f"SSAE (TERM t={self.tilt:g})")
        return label


STAGES = ("probes", "gsae", "retrieve", "ssae", "circuit", "skyline", "shift", "sae-eval")


@dataclass
class Context:
    """What every stage shares: the resolved preset, the model, the data, the stage runner."""

    cfg: RunConfig
    preset: Preset
    lm: LoadedModel
    bib: object
    runner: StageRunner
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def probe_submodule(self) -> str:
        return self.preset.probe_submodule or f"resid_out_layer{self.lm.n_layers - 2}"

    @property
    def model_key(self) -> dict:
        from probes.activations import model_fingerprint

        return model_fingerprint(self.lm)


def run_pipeline(cfg: RunConfig, quiet: bool = False) -> dict:
    t_start = time.perf_counter()
    ctx = _context(cfg, quiet)
    rows = _stage_probes(ctx)
    saes_dir = _stage_saes(ctx)
    circuit_dir = _stage_circuit(ctx, saes_dir)
    skyline_dir = _stage_skyline(ctx, saes_dir, circuit_dir)
    shift_rows = _stage_shift(ctx, saes_dir, skyline_dir)
    sae_eval = _stage_sae_eval(ctx, saes_dir) if cfg.sae != "neurons" and cfg.sae_eval else None
    return _report(ctx, rows, shift_rows, circuit_dir, skyline_dir, sae_eval, t_start)


# --------------------------------------------------------------------------------------------
# context


def _context(cfg: RunConfig, quiet: bool) -> Context:
    from shift.data.bib import load_bib

    overrides = {"model": cfg.model, "bib": cfg.bib_path, "saes": cfg.saes, "corpus": cfg.corpus}
    preset = get_preset(cfg.preset, **overrides)
    checked = validate.check_run(cfg, preset)  # before the world is built or any stage runs
    from ssae.models import load_model  # slow to import: only once the options are known good

    if cfg.model is None and cfg.preset == "paper":
        _fail_fast_offline(str(preset.model))
    preset = preset.resolve()
    lm = load_model(preset.model, device=checked.device)
    preset = dataclasses.replace(preset, professions=tuple(cfg.professions.split(",")))
    bib = load_bib(preset.bib, professions=cfg.professions, max_per_group=cfg.max_per_group)
    runner = StageRunner(force=frozenset(cfg.force), quiet=quiet, verify=cfg.verify)
    ctx = Context(cfg, preset, lm, bib, runner)
    ctx.keys["bib"] = _bib_key(preset, cfg)
    return ctx


def _bib_key(preset: Preset, cfg: RunConfig) -> str:
    """Cache key of the BiB data: source (content of local files) and how the splits are cut."""
    from ssae.retrieval.corpus import file_fingerprint

    src = Path(str(preset.bib))
    files = sorted(src.rglob("*")) if src.is_dir() else [src] if src.exists() else []
    content = [file_fingerprint(f) for f in files if f.is_file()] or str(preset.bib)
    return stable_hash(
        {"bib": content, "professions": cfg.professions, "max_per_group": cfg.max_per_group}
    )


def _fail_fast_offline(model: str) -> None:
    """Stop at once (not after the hub client's retries) when a hub model cannot be reached."""
    from ssae.models import hub_model_available

    if not Path(model).exists() and not hub_model_available(model):
        raise ToolkitError(
            f"model {model!r} is not in the Hugging Face cache and the hub is unreachable: run "
            "with --preset tiny (built-in world, offline), pass --model PATH, or fill the HF cache"
        )


def _labelled_batches(lm, texts, labels, batch_size: int, max_length: int | None) -> list[dict]:
    out = []
    for start in range(0, len(texts), batch_size):
        batch = lm.tokenize(texts[start : start + batch_size], max_length=max_length)
        batch["labels"] = torch.as_tensor(labels[start : start + batch_size]).to(lm.device)
        out.append(batch)
    return out


# --------------------------------------------------------------------------------------------
# stages


def _stage_probes(ctx: Context) -> list[dict]:
    from probes.cbp import CBPConfig
    from probes.probe import ProbeConfig
    from shift.baselines import run_baselines

    probe_cfg = ProbeConfig(
        seed=42 + ctx.cfg.seed,
        device=str(ctx.lm.device),
        min_steps=ctx.preset.probe_min_steps,
    )
    inputs = {
        "model": ctx.model_key,
        "bib": ctx.keys["bib"],
        "probe_submodule": ctx.probe_submodule,
        "probe": {k: v for k, v in asdict(probe_cfg).items() if k != "device"},
        "cbp": {k: v for k, v in asdict(CBPConfig()).items() if k != "probe"},
        "max_text_tokens": ctx.preset.max_text_tokens,
    }

    def fn(d: Path) -> dict:
        run = run_baselines(
            ctx.preset,
            out=d,
            max_per_group=ctx.cfg.max_per_group,
            device=str(ctx.lm.device),
            probe_config=probe_cfg,
            lm=ctx.lm,
        )
        write_json(d / "rows.json", [r.row() for r in run.rows])
        return {}

    stage = ctx.runner.run("probes", inputs, fn)
    ctx.keys["probes"] = stage.key
    ctx.keys["probes_dir"] = str(stage.dir / "probes")
    return json.loads((stage.dir / "rows.json").read_text())


def _stage_saes(ctx: Context) -> Path | None:
    """Folder of the SAE set this run edits (None for the neuron skyline)."""
    cfg, preset = ctx.cfg, ctx.preset
    if cfg.sae == "neurons":
        ctx.keys["saes"] = "neurons"
        return None
    gsae_dir = _stage_gsae(ctx)
    if not cfg.uses_ssae:
        return gsae_dir
    tokens_dir = _stage_retrieve(ctx, gsae_dir)

    from ssae.sae_set import SAESet
    from ssae.tokens import TokenDataset
    from ssae.train import FinetuneConfig, finetune_saes

    ft = FinetuneConfig(
        lr=preset.finetune_lr,
        l1=preset.finetune_l1,
        tilt=cfg.tilt,
        seed=cfg.seed,
        n_tokens=preset.extra.get("finetune_tokens"),
        batch_docs=preset.extra.get("finetune_batch_docs", 16),
    )
    # Comp. SSAE "is initialized with Comp. GSAE before finetuning" (SSAE paper): slice, then
    # finetune; never finetune the full set and slice afterwards.
    keep = preset.compress_k if cfg.compressed else None
    inputs = {
        "gsae": ctx.keys["gsae"],
        "retrieve": ctx.keys["retrieve"],
        "finetune": ft.fingerprint(),
        "sliced_to": keep,
    }

    def fn(d: Path) -> dict:
        gsae = SAESet.load(gsae_dir, ctx.lm, names=preset.submodule_names)
        if keep is not None:
            gsae = gsae.slice(keep)
        finetune_saes(ctx.lm, gsae, TokenDataset.load(tokens_dir), ft, d / "run")
        return {}

    stage = ctx.runner.run("ssae", inputs, fn)
    ctx.keys["ssae"] = ctx.keys["saes"] = stage.key
    return stage.dir / "run"


def _stage_gsae(ctx: Context) -> Path:
    preset = ctx.preset
    if preset.saes:
        folder = _sae_folder(str(preset.saes))
        ctx.keys["gsae"] = ctx.keys["saes"] = stable_hash({"folder": str(folder)})
        ctx.keys["gsae_dir"] = str(folder)
        return folder

    from ssae.retrieval.corpus import load_corpus
    from ssae.tokens import TokenDataset
    from ssae.train import TrainConfig, train_saes

    tc = TrainConfig(
        dict_size=preset.sae_width,
        n_tokens=preset.extra.get("gsae_tokens", 500_000),
        l1=preset.extra.get("gsae_l1", 1.0),
        lr=preset.extra.get("gsae_lr", 1e-3),
        names=preset.submodule_names,
        batch_docs=preset.extra.get("gsae_batch_docs", 16),
    )
    corpus = load_corpus(str(preset.corpus))
    inputs = {
        "model": ctx.model_key,
        "corpus": corpus.fingerprint,
        "train": tc.fingerprint(),
        "ctx_len": preset.ctx_len,
    }

    def fn(d: Path) -> dict:
        tokens = TokenDataset.from_texts(
            corpus.texts, ctx.lm.tokenizer, ctx_len=preset.ctx_len, source=str(preset.corpus)
        )
        train_saes(ctx.lm, tokens, tc, d / "run")
        return {}

    stage = ctx.runner.run("gsae", inputs, fn)
    ctx.keys["gsae"] = ctx.keys["saes"] = stage.key
    ctx.keys["gsae_dir"] = str(stage.dir / "run")
    return stage.dir / "run"


def _sae_folder(source: str) -> Path:
    """A local dictionary folder, or a hub repo of one fetched into the HF cache."""
    if Path(source).exists():
        return Path(source)
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(source))
    except Exception as e:  # the hub client raises many types for "not reachable / not cached"
        raise ToolkitError(
            f"SAE repo {source!r} is not reachable and not cached: pass --saes PATH to a folder in "
            "the dictionary_learning layout, or use --preset tiny"
        ) from e


def _stage_retrieve(ctx: Context, gsae_dir: Path) -> Path:
    from ssae.retrieval.pipeline import RetrievalConfig, retrieve

    preset = ctx.preset
    rc = RetrievalConfig(
        method=ctx.cfg.retrieval,
        budget_tokens=preset.retrieval_budget_tokens,
        ctx_len=preset.ctx_len,
        n_seeds=preset.n_seed_examples,
        embedder=str(preset.embedder),
    )
    from shift.data.bib import seed_examples

    seeds = seed_examples(ctx.bib, preset.n_seed_examples, seed=ctx.cfg.seed)
    inputs = {
        "config": asdict(rc),
        "seeds": seeds,
        "corpus": str(preset.corpus),
        "model": ctx.model_key,
    }
    if rc.uses_tracin:  # only TracIn reads the general SAEs
        inputs["gsae"] = ctx.keys["gsae"]

    def fn(d: Path) -> dict:
        res = retrieve(str(preset.corpus), seeds, ctx.lm, d / "retrieval", rc, saes=gsae_dir)
        summary = {"n_docs": len(res.doc_ids), "n_tokens": res.n_tokens}
        if res.topics is not None:
            summary["precision_biography"] = res.precision("biography")
        return summary

    stage = ctx.runner.run("retrieve", inputs, fn)
    ctx.keys["retrieve"] = stage.key
    ctx.keys["retrieve_dir"] = str(stage.dir / "retrieval")
    return stage.dir / "retrieval" / "tokens"


def _load_variant(ctx: Context, saes_dir: Path | None) -> SAESet:
    """The run's dictionaries; a compressed variant keeps the first `compress_k` features (the
    Comp. SSAE set was sliced before finetuning and is that wide already)."""
    from ssae.sae_set import SAESet

    names = ctx.preset.submodule_names
    if saes_dir is None:
        return SAESet.identity(ctx.lm, names=names)
    saes = SAESet.load(saes_dir, ctx.lm, names=names, device=ctx.lm.device)
    if ctx.cfg.compressed and next(iter(saes.values())).dict_size > ctx.preset.compress_k:
        saes = saes.slice(ctx.preset.compress_k)
    return saes


def _probe_weights(ctx: Context) -> tuple[torch.Tensor, torch.Tensor]:
    from probes.probe import load_probe

    probe = load_probe(Path(ctx.keys["probes_dir"]) / "original.safetensors")
    lin = probe.net if hasattr(probe, "net") else probe
    return lin.weight.detach().reshape(-1), lin.bias.detach().reshape(())


def _stage_circuit(ctx: Context, saes_dir: Path | None) -> Path:
    from circuits.annotate import annotate_circuit
    from circuits.circuit import compute_circuit
    from circuits.graph import save_graph
    from circuits.metrics import probe_metric
    from circuits.render import render_circuit

    cfg, n = ctx.cfg, ctx.cfg.circuit_examples
    node_threshold = ctx.preset.node_threshold if cfg.node_threshold is None else cfg.node_threshold
    edge_threshold = ctx.preset.edge_threshold if cfg.edge_threshold is None else cfg.edge_threshold
    inputs = {
        "saes": ctx.keys["saes"],
        "variant": cfg.sae,
        "compress_k": ctx.preset.compress_k,
        "probes": ctx.keys["probes"],
        "n": n,
        "steps": cfg.ig_steps,
        "ig_mode": cfg.ig_mode,
        "baseline": "zero",
        "node_threshold": node_threshold,
        "edge_threshold": edge_threshold,
        "labels": Path(cfg.labels).read_text() if cfg.labels else None,
    }

    def fn(d: Path) -> dict:
        saes = _load_variant(ctx, saes_dir)
        weight, bias = _probe_weights(ctx)
        metric = probe_metric(weight, bias, reads=ctx.probe_submodule, name="probe")
        train = ctx.bib["train"]
        # Every variant ranks nodes by IG towards a zero patch, the neuron skyline included (as
        # in Marks et al.'s code); the neurons' means serve only their ablation (`_fill`).
        baseline = inputs["baseline"]
        max_len = ctx.preset.max_text_tokens

        # The classifier's circuit: ambiguous set, negative logit of the correct class.
        amb = train.ambiguous[:n]
        batches = _labelled_batches(ctx.lm, train.select(amb), train.profession[amb], 16, max_len)
        circuit = compute_circuit(
            ctx.lm,
            dict(saes),
            batches,
            metric,
            method="ig",
            steps=cfg.ig_steps,
            ig_mode=cfg.ig_mode,
            node_threshold=node_threshold,
            edge_threshold=edge_threshold,
            baseline=baseline,
        )
        graph = annotate_circuit(
            circuit.graph,
            ctx.lm,
            dict(saes),
            data=train.select(train.balanced[: 4 * n]),
            labels=cfg.labels,
        )
        save_graph(graph, d / "circuit.json")
        title = f"Bias in Bios classifier circuit ({cfg.preset} preset, {cfg.method_label})"
        render_circuit(graph, d / "circuit.svg", title=title)
        render_circuit(graph, d / "circuit.png", title=title)

        # Gender effects over the balanced set rank the skyline's candidates.
        bal = train.balanced[:n]
        gbatches = _labelled_batches(ctx.lm, train.select(bal), train.gender[bal], 16, max_len)
        gender = compute_circuit(
            ctx.lm,
            dict(saes),
            gbatches,
            metric,
            method="ig",
            steps=cfg.ig_steps,
            ig_mode=cfg.ig_mode,
            baseline=baseline,
            edges=False,
        )
        save_file(
            {k: v.contiguous().float() for k, v in gender.effects.features.items()},
            str(d / "gender_effects.safetensors"),
        )
        if cfg.sae == "neurons":
            from circuits.states import compute_means

            means = compute_means(ctx.lm, dict(saes), gbatches, list(saes))
            save_file(
                {k: v.f.reshape(-1).contiguous().float() for k, v in means.items()},
                str(d / "means.safetensors"),
            )
        return {"nodes": graph.number_of_nodes(), "edges": graph.number_of_edges()}

    stage = ctx.runner.run("circuit", inputs, fn)
    ctx.keys["circuit"] = stage.key
    return stage.dir


def _evaluator(ctx: Context, saes: SAESet, texts, fill=None):
    from shift.ablation import AblationEvaluator

    return AblationEvaluator(
        ctx.lm,
        dict(saes),
        texts,
        ctx.lm.submodule(ctx.probe_submodule),
        fill=fill,
        max_length=ctx.preset.max_text_tokens,
    )


def _fill(ctx: Context, circuit_dir: Path) -> dict | None:
    path = circuit_dir / "means.safetensors"
    return load_file(str(path)) if path.exists() else None


def _stage_skyline(ctx: Context, saes_dir: Path | None, circuit_dir: Path) -> Path:
    from probes.probe import load_probe
    from shift.ablation import parse_feature_ids
    from shift.skyline import rank_features, sweep

    cfg = ctx.cfg
    manual = Path(cfg.features_file).read_text().splitlines() if cfg.features_file else None
    inputs = {"circuit": ctx.keys["circuit"], "max_k": cfg.max_k, "manual": manual}

    def fn(d: Path) -> dict:
        saes = _load_variant(ctx, saes_dir)
        if manual is not None:
            chosen = parse_feature_ids(manual, saes)
            ids = [f"{k}/{i}" for k, v in chosen.items() for i in v.tolist()]
            write_json(
                d / "selection.json", {"k": len(ids), "features": ids, "source": cfg.features_file}
            )
            return {"k": len(ids)}
        effects = load_file(str(circuit_dir / "gender_effects.safetensors"))
        ranked = rank_features(effects, top=cfg.max_k)
        probe = load_probe(Path(ctx.keys["probes_dir"]) / "original.safetensors")
        dev = ctx.bib["dev"]
        ev = _evaluator(ctx, saes, dev.select(dev.balanced), _fill(ctx, circuit_dir))
        ks = list(range(1, min(cfg.max_k, len(ranked)) + 1))
        best_k, points = sweep(
            ev, ranked, probe.predict, dev.profession[dev.balanced], dev.gender[dev.balanced], ks
        )
        chosen = ranked[:best_k]
        write_json(
            d / "selection.json",
            {
                "k": best_k,
                "features": [r.id for r in chosen],
                "effects": [r.effect for r in chosen],
                "sweep": [asdict(p) for p in points],
            },
        )
        _plot_sweep(points, best_k, d / "skyline.png", cfg.method_label)
        return {"k": best_k}

    stage = ctx.runner.run("skyline", inputs, fn)
    ctx.keys["skyline"] = stage.key
    return stage.dir


def _plot_sweep(points, best_k: int, path: Path, label: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ssae.io import atomic_path

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ks = [p.k for p in points]
    ax.plot(ks, [p.profession_acc for p in points], label="profession acc (dev)")
    ax.plot(ks, [p.gender_acc for p in points], label="gender acc (dev)")
    ax.axvline(best_k, color="grey", ls="--", label=f"chosen k = {best_k}")
    ax.axhline(0.5, color="lightgrey", lw=0.8)
    ax.set_xlabel("features ablated (k)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{label} feature skyline")
    ax.set_ylim(0, 1)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def _stage_shift(ctx: Context, saes_dir: Path | None, skyline_dir: Path) -> list[dict]:
    from probes.probe import ProbeConfig, load_probe, save_probe, train_probe
    from shift.ablation import parse_feature_ids
    from shift.baselines import evaluate_split

    cfg = ctx.cfg
    inputs = {"skyline": ctx.keys["skyline"], "probes": ctx.keys["probes"]}
    label = cfg.method_label

    def fn(d: Path) -> dict:
        saes = _load_variant(ctx, saes_dir)
        selection = json.loads((skyline_dir / "selection.json").read_text())
        features = parse_feature_ids(selection["features"], saes)
        fill = _fill(ctx, Path(ctx.runner.root / "circuit" / ctx.keys["circuit"]))
        probe = load_probe(Path(ctx.keys["probes_dir"]) / "original.safetensors")
        test, train = ctx.bib["test"], ctx.bib["train"]
        test_acts = _evaluator(ctx, saes, test.texts, fill).pooled(features)

        def evaluate(p, name):
            return evaluate_split(name, p.predict(test_acts).long(), test).row()

        rows = [evaluate(probe, f"{label} SHIFT" if cfg.sae != "neurons" else label)]
        if cfg.sae != "neurons":
            amb_acts = _evaluator(ctx, saes, train.select(train.ambiguous), fill).pooled(features)
            retrain_cfg = ProbeConfig(seed=42 + cfg.seed, min_steps=ctx.preset.probe_min_steps)
            retrained = train_probe(amb_acts, train.ambiguous_labels, retrain_cfg)
            save_probe(retrained, d / "retrained.safetensors", submodule=ctx.probe_submodule)
            rows.append(evaluate(retrained, f"{label} SHIFT + retrain"))
        for r in rows:
            r["k"] = selection["k"]
        write_json(d / "rows.json", rows)
        return {}

    stage = ctx.runner.run("shift", inputs, fn)
    return json.loads((stage.dir / "rows.json").read_text())


def _stage_sae_eval(ctx: Context, saes_dir: Path) -> dict:
    """The run's SAEs on the test biographies; SSAE runs also evaluate their GSAEs alongside."""
    from ssae.evaluate import evaluate_saes
    from ssae.tokens import TokenDataset

    compare = ctx.cfg.uses_ssae
    inputs = {
        "saes": ctx.keys["saes"],
        "variant": ctx.cfg.sae,
        "compress_k": ctx.preset.compress_k,
        "bib": ctx.keys["bib"],
        "gsae": ctx.keys["gsae"] if compare else None,
    }

    def fn(d: Path) -> dict:
        test = ctx.bib["test"]
        tokens = TokenDataset.from_texts(
            test.select(test.balanced),
            ctx.lm.tokenizer,
            ctx_len=ctx.preset.ctx_len,
            source="bib test (balanced)",
        )
        result = {"saes": evaluate_saes(ctx.lm, _load_variant(ctx, saes_dir), tokens)}
        if compare:
            gsae = _load_variant(ctx, Path(ctx.keys["gsae_dir"]))
            result["gsae"] = evaluate_saes(ctx.lm, gsae, tokens)
        write_json(d / "eval.json", result)
        return {}

    stage = ctx.runner.run("sae-eval", inputs, fn)
    return json.loads((stage.dir / "eval.json").read_text())


# --------------------------------------------------------------------------------------------
# report


def _report(ctx, rows, shift_rows, circuit_dir, skyline_dir, sae_eval, t_start) -> dict:
    from shift.report import markdown_table, write_report

    cfg = ctx.cfg
    by_name = {r["method"]: r for r in rows}
    table = [by_name["Original"], by_name["CBP"], *shift_rows, by_name["Oracle"]]
    out = cfg.out
    out.mkdir(parents=True, exist_ok=True)
    for name in ("circuit.svg", "circuit.png", "circuit.json"):
        shutil.copyfile(circuit_dir / name, out / name)
    if (skyline_dir / "skyline.png").exists():
        shutil.copyfile(skyline_dir / "skyline.png", out / "skyline.png")
    selection = json.loads((skyline_dir / "selection.json").read_text())
    timings = {k: round(v, 2) for k, v in ctx.runner.timings.items()}
    timings["total (this run)"] = round(time.perf_counter() - t_start, 2)
    config = {**asdict(cfg), "out": str(cfg.out), "preset_resolved": _jsonable(asdict(ctx.preset))}
    sections = [
        f"Chosen k = {selection['k']} features "
        + (
            "(from the file)"
            if cfg.features_file
            else "(feature skyline, best dev profession accuracy)"
        ),
        "",
        "![circuit](circuit.svg)",
        "",
    ]
    if (out / "skyline.png").exists():
        sections += ["![skyline sweep](skyline.png)", ""]
    if sae_eval is not None:
        sections += [
            "## SAE quality on the test biographies",
            "",
            _sae_eval_md(sae_eval, VARIANT_LABELS[cfg.sae]),
            "",
        ]
    sections += [
        "## Time per stage (s)",
        "",
        *(
            f"- {k}: {v}" + (" (cached)" if k in ctx.runner.cached else "")
            for k, v in timings.items()
        ),
        "",
    ]
    extra = {
        "k": selection["k"],
        "features": selection["features"],
        "circuit": "circuit.svg",
        "timings_s": timings,
        "sae_eval": sae_eval,
        "config": config,
        "stage_keys": ctx.keys,
    }
    write_report(out, table, extra, sections)
    return {
        "rows": table,
        "k": selection["k"],
        "timings": timings,
        "cached": ctx.runner.cached,
        "markdown": markdown_table(table),
    }


def _sae_eval_md(result: dict, label: str) -> str:
    """Per-submodule L0, FVU and spliced CE increase; GSAE next to SSAE when both were evaluated."""
    runs = [(label, result["saes"])] + ([("GSAE", result["gsae"])] if "gsae" in result else [])
    head = (
        "| submodule | "
        + " | ".join(f"{name} {m}" for name, _ in runs for m in ("L0", "FVU", "CE +"))
        + " |"
    )
    lines = [head, "|---" * (1 + 3 * len(runs)) + "|"]
    for sub in runs[0][1]["submodules"]:
        cells = []
        for _, r in runs:
            row = r["submodules"][sub]
            cells += [
                f"{row['l0']:.1f}",
                f"{row['fvu']:.3f}",
                f"{row.get('ce_delta', float('nan')):.4f}",
            ]
        lines.append(f"| {sub} | " + " | ".join(cells) + " |")
    clean = runs[0][1].get("clean_ce")
    means = " ; ".join(
        f"{name}: mean L0 {r['mean']['l0']:.1f}, FVU {r['mean']['fvu']:.3f}, "
        f"spliced CE +{r['mean'].get('ce_delta') or 0:.4f} nats"
        for name, r in runs
    )
    return "\n".join(lines) + f"\n\nClean CE {clean:.4f} nats/token. {means}.\n"


def _jsonable(d: dict) -> dict:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in d.items()}
