"""Building a world: corpus, held-out documents, BiB-schema dataset, tokenizer, trained LM, manifest.

`build_world` writes every artifact into an empty folder (`shift.world.store` builds into a
temporary one and renames it into place, and opens, verifies and repairs built worlds). The
manifest records the configuration's fingerprint, sizes, counts, held-out CE, timings, the
versions of the libraries that decide the bytes (`built_with`), and every file's size, SHA-256
and modification time (`files`), against which the world is checked whenever it is opened.

Beside the LM: the LM trains on one thread, so a second core would idle for minutes. A caller can
hand the build a job that needs the corpus but not the LM (the pipeline embeds the corpus for
dense retrieval); it runs in a child process while the LM trains, on the partly built world, and
the build waits for it before moving the world into place. It cannot change the world: it only
reads it, and its failure is reported in one line and leaves the work to whoever needs it later.

Determinism: every random choice comes from `random.Random` / `torch.Generator` seeded from the
world seed and the stage name, and training runs with `torch.use_deterministic_algorithms(True)`, so
two builds with one seed (and one torch thread count) give the same corpus bytes and model weights.
The data (`write_data`) takes seconds and the LM (`train_model`) minutes, which is what lets a
damaged world be repaired without retraining an intact LM.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import torch
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerFast

from shift.manifest import build_manifest, sha256_file
from shift.world.bios import FEMALE, MALE, SPLITS, generate_bib
from shift.world.config import RARE_TOPICS, WorldConfig
from shift.world.corpus import Doc, generate_corpus, generate_heldout, topic_fractions
from shift.world.professions import BIB_PROFESSIONS
from shift.world.tokenizer import train_tokenizer
from shift.world.train_lm import heldout_ce, make_model, pack, train, unigram_ce
from ssae.errors import DataError
from ssae.io import shift_home, stable_hash

# Bump when the generator's output changes for the same configuration, so caches rebuild.
GENERATOR_VERSION = 5


@dataclass(frozen=True)
class WorldPaths:
    """Where a built world's artifacts are."""

    root: Path
    """The world's directory."""
    corpus: Path
    """Training corpus, jsonl: one {"id", "text", "topic"} per line."""
    model: Path
    """Hugging Face GPTNeoX model and its tokenizer (`ssae.models.load_model(str(model))`)."""
    bib: Path
    """Directory with train/dev/test.parquet in the LabHC bias_in_bios schema."""
    heldout: Path
    """Held-out documents of every topic (not in the corpus), jsonl like the corpus."""
    manifest: Path
    """manifest.json: configuration, hashes, sizes, counts, held-out CE, timings."""

    @classmethod
    def at(cls, root: Path) -> WorldPaths:
        root = Path(root)
        return cls(
            root=root,
            corpus=root / "corpus.jsonl",
            model=root / "model",
            bib=root / "bib",
            heldout=root / "heldout.jsonl",
            manifest=root / "manifest.json",
        )

    def bib_files(self) -> dict[str, str]:
        """{split: parquet path}, ready for `datasets.load_dataset("parquet", data_files=...)`."""
        return {s: str(self.bib / f"{s}.parquet") for s in SPLITS}

    def read_manifest(self) -> dict:
        try:
            return json.loads(self.manifest.read_text())
        except (OSError, ValueError) as e:
            raise DataError(
                f"world manifest {self.manifest} is unreadable: rebuild with --force"
            ) from e


def world_dir(preset: str, seed: int, home: Path | None = None) -> Path:
    return Path(home or shift_home()) / "worlds" / f"{preset}-seed{seed}"


def fingerprint(cfg: WorldConfig, seed: int) -> str:
    return stable_hash({"config": cfg.to_dict(), "seed": seed, "version": GENERATOR_VERSION}, 16)


@dataclass
class WorldData:
    """What the generator wrote before the LM trains: the texts and their token ids."""

    docs: list[Doc]
    """The corpus's documents."""
    heldout: list[Doc]
    """Held-out documents of every topic."""
    bib: dict[str, list]
    """Biographies per split."""
    tokenizer: PreTrainedTokenizerFast
    """The BPE tokenizer trained on the corpus."""
    train_ids: list[list[int]]
    """Token ids of each corpus document."""
    heldout_ids: list[list[int]]
    """Token ids of each held-out document."""


def build_world(
    cfg: WorldConfig,
    seed: int,
    paths: WorldPaths,
    while_training: Callable[[WorldPaths], None] | None = None,
) -> dict:
    """Build every artifact into `paths` (an empty directory) and return the manifest."""
    times: dict[str, float] = {}
    t_all = time.perf_counter()
    stages = tqdm(total=3, desc=f"world {cfg.preset}", unit="stage", leave=False)
    stages.set_postfix_str("data")
    data = write_data(cfg, seed, paths, times)
    stages.update()

    stages.set_postfix_str("train")
    beside = start_beside(while_training, paths)
    model, rows, losses = train_model(cfg, seed, paths, data, times)
    stages.update()

    t = time.perf_counter()
    stages.set_postfix_str("eval")
    with _deterministic(seed, cfg.train.threads):
        lm = heldout_ce(model, data.heldout_ids, cfg.model.ctx_len, data.tokenizer.pad_token_id)
    uni = unigram_ce(data.train_ids, data.heldout_ids, len(data.tokenizer), cfg.model.ctx_len)
    times["eval"] = time.perf_counter() - t
    stages.update()
    stages.close()
    join_beside(beside, times)
    times["total"] = time.perf_counter() - t_all

    docs, heldout, bib = data.docs, data.heldout, data.bib
    manifest = {
        "preset": cfg.preset,
        "seed": seed,
        "fingerprint": fingerprint(cfg, seed),
        "generator_version": GENERATOR_VERSION,
        "config": cfg.to_dict(),
        "corpus_sha256": sha256_file(paths.corpus),
        "heldout_sha256": sha256_file(paths.heldout),
        "model_sha256": model_digest(model),
        "sizes": {
            "docs": len(docs),
            "heldout_docs": len(heldout),
            "tokens": sum(map(len, data.train_ids)),
            "heldout_tokens": sum(map(len, data.heldout_ids)),
            "vocab": len(data.tokenizer),
            "params": sum(p.numel() for p in model.parameters()),
            "train_rows": len(rows),
        },
        "topics": dict(sorted(Counter(d.topic for d in docs).items(), key=lambda kv: -kv[1])),
        "topic_fractions": topic_fractions(cfg),
        "heldout_topics": dict(Counter(d.topic for d in heldout)),
        "tail_concepts": _tail_counts(docs),
        "bib": {
            split: _group_counts([(b.profession, b.gender) for b in bios])
            for split, bios in bib.items()
        },
        "eval": _eval_summary(heldout, lm, uni),
        "train": {
            "steps": len(losses),
            "tokens_seen": max(1, int(cfg.train.epochs * len(rows))) * cfg.model.ctx_len,
            "first_loss": losses[0] if losses else None,
            "final_loss": sum(losses[-20:]) / max(1, len(losses[-20:])),
        },
        "torch_threads": cfg.train.threads,
        "built_with": built_with(),
        "timings_s": {k: round(v, 2) for k, v in times.items()},
        "files": world_files(paths),
    }
    paths.manifest.write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def write_data(cfg: WorldConfig, seed: int, paths: WorldPaths, times: dict) -> WorldData:
    """The corpus, held-out documents, Bias-in-Bios splits and tokenizer, written into `paths`
    (seconds; training the LM is the rest of a build). Adds each part's seconds to `times`."""
    t = time.perf_counter()
    docs = generate_corpus(cfg, seed)
    heldout = generate_heldout(cfg, seed, exclude={d.text for d in docs})
    _write_jsonl(paths.corpus, docs)
    _write_jsonl(paths.heldout, heldout)
    times["corpus"] = time.perf_counter() - t

    t = time.perf_counter()
    bib = generate_bib(cfg.bib, seed, cfg.corpus.tail_prob)
    paths.bib.mkdir(parents=True)
    for split, bios in bib.items():
        table = pa.table(
            {
                "hard_text": pa.array([b.hard_text for b in bios], pa.string()),
                "profession": pa.array([b.profession for b in bios], pa.int64()),
                "gender": pa.array([b.gender for b in bios], pa.int64()),
            }
        )
        pq.write_table(table, paths.bib / f"{split}.parquet")
    times["bib"] = time.perf_counter() - t

    t = time.perf_counter()
    tok = train_tokenizer((d.text for d in docs), cfg.model.vocab_size)
    train_ids = tok([d.text for d in docs], add_special_tokens=False)["input_ids"]
    held_ids = tok([d.text for d in heldout], add_special_tokens=False)["input_ids"]
    tok.save_pretrained(paths.model)
    times["tokenizer"] = time.perf_counter() - t
    return WorldData(docs, heldout, bib, tok, train_ids, held_ids)


def train_model(
    cfg: WorldConfig, seed: int, paths: WorldPaths, data: WorldData, times: dict
) -> tuple[torch.nn.Module, torch.Tensor, list[float]]:
    """(model, packed rows, per-step losses): the LM trained on the corpus, saved into
    `paths.model`. Adds its seconds to `times`."""
    t = time.perf_counter()
    eos = data.tokenizer.eos_token_id
    with _deterministic(seed, cfg.train.threads):
        model = make_model(cfg.model, len(data.tokenizer), eos)
        rows = pack(data.train_ids, eos, cfg.model.ctx_len)
        losses = train(model, rows, cfg.train, seed, desc=f"train {cfg.preset} LM")
    model.save_pretrained(paths.model)
    times["train"] = time.perf_counter() - t
    return model, rows, losses


def world_files(paths: WorldPaths) -> dict[str, dict]:
    """Size, SHA-256 and modification time of every file of a world (not its manifest)."""
    return build_manifest(paths.root, skip={paths.manifest.name})


def built_with() -> dict[str, str]:
    """Versions of what decides a world's bytes besides its configuration and seed: a world is
    rebuilt identically only where they are the same."""
    import platform

    import pyarrow
    import tokenizers
    import transformers

    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "pyarrow": pyarrow.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


def start_beside(job: Callable[[WorldPaths], None] | None, paths: WorldPaths):
    if job is None:
        return None
    # spawn, not fork: the parent holds torch's thread pools, which a forked child cannot use
    child = multiprocessing.get_context("spawn").Process(
        target=_run_beside, args=(job, paths), name="world-beside", daemon=True
    )
    child.start()
    return child


def join_beside(child, times: dict) -> None:
    if child is not None:
        t = time.perf_counter()
        child.join()  # it reads the temporary world, which is moved into place after this
        times["beside_wait"] = time.perf_counter() - t


def _run_beside(job: Callable[[WorldPaths], None], paths: WorldPaths) -> None:
    torch.set_num_threads(1)  # the other core trains the LM
    try:
        with open(os.devnull, "w") as quiet, contextlib.redirect_stderr(quiet):
            job(paths)  # its progress bars would garble the LM's
    except Exception as e:  # best effort: the stage that needs the result computes it itself
        print(
            f"[world] the job beside the LM training failed ({e}); left to later", file=sys.stderr
        )
        raise SystemExit(1) from None


def model_digest(model: torch.nn.Module) -> str:
    """sha256 over every parameter and buffer (names, shapes and bytes), in state-dict order."""
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(str(tuple(tensor.shape)).encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _eval_summary(heldout: list[Doc], lm: list, uni: list) -> dict:
    def ce(pairs) -> float:
        n = sum(k for _, k in pairs)
        return sum(s for s, _ in pairs) / max(1, n)

    per_topic = {}
    for topic in dict.fromkeys(d.topic for d in heldout):
        idx = [i for i, d in enumerate(heldout) if d.topic == topic]
        per_topic[topic] = {
            "docs": len(idx),
            "model_ce": round(ce([lm[i] for i in idx]), 4),
            "unigram_ce": round(ce([uni[i] for i in idx]), 4),
        }
    # Rare topics are over-represented in the held-out set (a floor per topic), so the headline
    # numbers are also given over the general topics alone and per topic.
    general = [i for i, d in enumerate(heldout) if d.topic not in RARE_TOPICS]
    return {
        "model_ce": round(ce(lm), 4),
        "unigram_ce": round(ce(uni), 4),
        "general_model_ce": round(ce([lm[i] for i in general]), 4),
        "general_unigram_ce": round(ce([uni[i] for i in general]), 4),
        "per_topic": per_topic,
        "units": "nats/token",
    }


def _tail_counts(docs: list[Doc]) -> dict[str, dict[str, int]]:
    out: dict[str, Counter] = {t: Counter() for t in RARE_TOPICS}
    for d in docs:
        if d.tail is not None:
            out[d.topic][d.tail] += 1
    return {t: dict(sorted(c.items())) for t, c in out.items()}


def _group_counts(labels: list[tuple[int, int]]) -> dict[str, dict[str, int]]:
    c = Counter(labels)
    profs = sorted({p for p, _ in labels})
    return {BIB_PROFESSIONS[p]: {"male": c[(p, MALE)], "female": c[(p, FEMALE)]} for p in profs}


def _write_jsonl(path: Path, docs: list[Doc]) -> None:
    with open(path, "w") as f:
        for d in docs:
            f.write(json.dumps(d.record(), ensure_ascii=False) + "\n")


@contextlib.contextmanager
def _deterministic(seed: int, threads: int) -> Iterator[None]:
    """Seeded, deterministic torch on `threads` threads; restores the caller's settings after."""
    was, was_threads = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was)
        torch.set_num_threads(was_threads)
