"""`shift run --preset paper` end to end at the paper's shapes: every stage's seconds and peak memory.

The paper preset is meant for Pythia-70M-deduped, Bias in Bios and the Marks et al. dictionaries,
which need the hub. This script makes stand-ins of the same shapes, offline, and runs the SSAE
method's every stage (probes, gsae, retrieve, ssae, gender-effects, circuit, skyline, shift,
sae-eval) on them, so that a shape, memory or dtype fault shows here before a user meets it:

- a randomly initialised Pythia-70M-shaped GPTNeoX (d = 512, 6 layers, 8 heads, vocabulary 50304)
  saved locally with the real Pythia tokenizer (`../shared/assets/pythia-tokenizer`);
- a Bias-in-Bios parquet folder in the LabHC schema (`hard_text`, `profession`, `gender`; train,
  dev and test), biographies of 20 to 400 Pythia tokens, read whole as the paper preset does;
- random 32,768-wide ReLU dictionaries in the Marks et al. layout
  (`<submodule>/10_32768/{ae.pt, config.json}`) for every submodule the preset edits (embed and
  attn/mlp/resid_out of layers 0-4: 16), each feature's encoder bias set so that it fires on
  about 0.2% of tokens (L0 ~ 65, as trained dictionaries of this width do);
- a local corpus (jsonl) of general and biography-like documents.

The run is the pipeline `shift run` runs, with the preset's settings except what is too large for
a CPU and has no `shift run` option (the retrieval budget; the dense embedder is MiniLM, the
offline one, since Contriever needs the hub): small example counts by default, the paper's with
`--full` (all biographies, 128 circuit examples, 10 IG steps, k up to 200, 8M retrieved tokens).

    nice -n 10 .venv/bin/python benchmarks/paper_shape.py                  # -> paper_shape_cpu.json
    .venv/bin/python benchmarks/paper_shape.py --device cuda --full        # -> paper_shape_gpu.json

Each stage's seconds and peak resident memory come from its `DONE.json` (`shift.cache`); on a GPU
the process's peak allocated GPU memory is recorded too.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import PYTHIA_TOKENIZER, pythia_tokenizer, save_gpt_neox  # noqa: E402

PROFESSOR, NURSE, OTHER = 21, 13, 2
SAE_RUN = "10_32768"
FIRE_RATE = 0.002
"""Share of tokens each random feature fires on (L0 = FIRE_RATE x 32768 ~ 65)."""

SIZES = {
    # bios per (profession, gender) and split; the paper's LabHC counts are larger still
    "small": dict(
        bios=(24, 8), max_per_group=12, docs=800, budget=4096, examples=4, ig_steps=2, max_k=3
    ),
    "full": dict(
        bios=(4000, 1000),
        max_per_group=None,
        docs=70_000,
        budget=8_000_000,
        examples=128,
        ig_steps=10,
        max_k=200,
    ),
}

WORDS = (
    "research teaching hospital patients clinic university students care health graduate "
    "community journal lab program nursing faculty emergency surgery grant award city family "
    "years practice interests reading travel music garden children science history medicine"
).split()


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def biography(rng: random.Random, profession: int, gender: int) -> str:
    who, their = ("She", "Her") if gender else ("He", "His")
    job = {PROFESSOR: "professor", NURSE: "nurse"}.get(profession, "lawyer")
    parts = [f"{who} works as a {job} at the {rng.choice(WORDS)} center."]
    for _ in range(rng.choice([1, 2, 3, 6, 12, 24])):  # a long tail past 128 tokens
        parts.append(f"{their} work covers {sentence(rng, rng.randint(4, 12))}")
    return " ".join(parts)


def write_bib(folder: Path, per_group: tuple[int, int], seed: int = 0) -> dict[str, int]:
    """train/dev/test parquet in the LabHC schema; the nurse-male and professor-female groups are
    the small ones, as in Bias in Bios."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(seed)
    big, small = per_group
    counts = {(PROFESSOR, 0): big, (PROFESSOR, 1): small, (NURSE, 0): small, (NURSE, 1): big}
    counts[(OTHER, 0)] = small
    folder.mkdir(parents=True)
    sizes = {}
    for split, share in (("train", 1.0), ("dev", 0.5), ("test", 0.5)):
        rows = [
            {"hard_text": biography(rng, p, g), "profession": p, "gender": g}
            for (p, g), n in counts.items()
            for _ in range(max(1, int(n * share)))
        ]
        rng.shuffle(rows)
        pq.write_table(pa.Table.from_pylist(rows), folder / f"{split}.parquet")
        sizes[split] = len(rows)
    return sizes


def write_corpus(path: Path, n_docs: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n_docs):
            if i % 10 == 0:
                text = biography(rng, rng.choice([PROFESSOR, NURSE]), rng.randint(0, 1))
            else:
                text = " ".join(sentence(rng, rng.randint(6, 16)) for _ in range(8))
            f.write(json.dumps({"id": str(i), "text": text}) + "\n")


@torch.no_grad()
def write_dictionaries(folder: Path, model_dir: Path, corpus: Path, width: int) -> int:
    """Random dictionaries for every submodule of the paper preset, biases calibrated on corpus
    activations so each feature fires on FIRE_RATE of the tokens. Returns bytes written."""
    from shift.presets import get_preset
    from ssae.activations import read_activations
    from ssae.dictionary import AutoEncoder
    from ssae.formats import save_dictionary
    from ssae.models import load_model

    lm = load_model(str(model_dir), device="cpu")
    texts = [json.loads(line)["text"] for line in corpus.read_text().splitlines()[:24]]
    batch = lm.tokenize(texts, max_length=128)
    names = get_preset("paper").submodule_names
    acts = read_activations(lm, [s for s in lm.submodules() if s.name in names], batch)
    torch.manual_seed(0)
    for name in names:
        x = acts[name][batch["attention_mask"].bool()].float()
        ae = AutoEncoder(x.shape[-1], width)
        pre = x @ ae.encoder.weight.T
        ae.encoder.bias.copy_(-torch.quantile(pre, 1 - FIRE_RATE, dim=0))
        save_dictionary(
            ae,
            folder / name / SAE_RUN,
            trainer={"lr": 1e-3, "l1_penalty": 0.1, "submodule_name": name, "random": True},
            buffer={"d_submodule": x.shape[-1], "ctx_len": 128},
        )
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def make_inputs(work: Path, sizes: dict, width: int) -> dict:
    if not PYTHIA_TOKENIZER.exists():
        sys.exit(f"the Pythia tokenizer is missing at {PYTHIA_TOKENIZER}")
    t0 = time.perf_counter()
    model = save_gpt_neox(
        work / "pythia-70m-shaped",
        pythia_tokenizer(),
        hidden=512,
        layers=6,
        heads=8,
        intermediate=2048,
    )
    corpus = work / "corpus.jsonl"
    write_corpus(corpus, sizes["docs"])
    bib_sizes = write_bib(work / "bib", sizes["bios"])
    dict_bytes = write_dictionaries(work / "saes", model, corpus, width)
    return {
        "model": str(model),
        "bib_path": str(work / "bib"),
        "saes": str(work / "saes"),
        "corpus": str(corpus),
        "bib_rows": bib_sizes,
        "dictionary_bytes": dict_bytes,
        "setup_s": round(time.perf_counter() - t0, 1),
    }


def run(inputs: dict, sizes: dict, device: str, out: Path) -> dict:
    from shift.config import RunConfig
    from shift.pipeline import run_pipeline

    cfg = RunConfig.from_options(
        preset="paper",
        method="ssae",
        model=inputs["model"],
        bib_path=inputs["bib_path"],
        sae_folder=inputs["saes"],
        corpus=inputs["corpus"],
        device=device,
        max_per_group=sizes["max_per_group"],
        circuit_examples=sizes["examples"],
        ig_steps=sizes["ig_steps"],
        max_k=sizes["max_k"],
        out=out,
    )
    # No `shift run` option sets these: the budget must fit the local corpus, and the paper's
    # Contriever embedder is on the hub.
    cfg.retrieval = dataclasses.replace(
        cfg.retrieval, budget_tokens=sizes["budget"], embedder="minilm"
    )
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    result = run_pipeline(cfg)
    wall = time.perf_counter() - t0
    report = json.loads((out / "results.json").read_text())
    stages = {
        name: {"seconds": round(s, 1), "peak_rss_mib": report["peak_rss_mib"].get(name)}
        for name, s in report["timings_s"].items()
        if name in report["peak_rss_mib"]
    }
    figures = {
        "wall_s": round(wall, 1),
        "stages": stages,
        "peak_rss_mib_process": process_peak_mib(stages),
        "k": result["k"],
        "rows": result["rows"],
    }
    if device.startswith("cuda"):
        figures["gpu_peak_allocated_mib"] = round(torch.cuda.max_memory_allocated() / 2**20)
    return figures


def process_peak_mib(stages: dict) -> float:
    """The process's peak resident memory over the run. The stage runner resets the kernel's
    high-water mark at each stage (`shift.cache.peak_rss`), and `ru_maxrss` reads the same mark,
    so the peak is the largest of the stages' peaks and what the mark holds now."""
    now = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return round(max([now, *(s["peak_rss_mib"] or 0 for s in stages.values())]), 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu", help="cpu or cuda (cuda:N)")
    ap.add_argument("--full", action="store_true", help="the paper's example counts")
    ap.add_argument("--width", type=int, default=32768, help="features per dictionary")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--work", type=Path, help="folder for inputs, SHIFT_HOME and report")
    ap.add_argument("--keep", action="store_true", help="keep --work (default: removed)")
    ap.add_argument("--result", type=Path, help="JSON written [default: by device]")
    args = ap.parse_args()

    import os

    os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    if args.threads:
        torch.set_num_threads(args.threads)
    kind = "gpu" if args.device.startswith("cuda") else "cpu"
    result = args.result or ROOT / "benchmarks" / "results" / f"paper_shape_{kind}.json"
    sizes = SIZES["full" if args.full else "small"]
    work = args.work or Path(tempfile.mkdtemp(prefix="paper-shape-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ["SHIFT_HOME"] = str(work / "home")  # a fresh cache: every stage computes
    try:
        inputs = make_inputs(work, sizes, args.width)
        figures = run(inputs, sizes, args.device, work / "report")
    finally:
        if not args.keep and args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    record = {
        "command": "shift run --preset paper --method ssae (local stand-ins; see the script)",
        "device": args.device,
        "gpu": torch.cuda.get_device_name() if kind == "gpu" else None,
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "shapes": {"d_model": 512, "layers": 6, "vocab": 50304, "sae_width": args.width},
        "settings": {**sizes, "bios": list(sizes["bios"]), "embedder": "minilm"},
        "inputs": {k: v for k, v in inputs.items() if k in ("bib_rows", "dictionary_bytes")},
        "setup_s": inputs["setup_s"],
        **figures,
    }
    result.parent.mkdir(parents=True, exist_ok=True)
    result.write_text(json.dumps(record, indent=2) + "\n")
    print(
        json.dumps({k: record[k] for k in ("wall_s", "stages", "peak_rss_mib_process")}, indent=2)
    )
    print(f"wrote {result}")


if __name__ == "__main__":
    main()
