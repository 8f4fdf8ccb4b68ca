"""Subdomain data selection end to end: seeds -> ranked corpus documents -> token dataset + report.

Methods (SSAE paper, Muhamed et al. 2024, Sec. 3.1):
- `dense`: merged cosine similarity of embeddings (see `select`), FAISS index cached per corpus
  and embedder;
- `bm25`: merged, per-seed normalised BM25 (see `bm25`, `select`), bm25s index cached per corpus;
- `dense+tracin`, `bm25+tracin`: the first stage above keeps the best documents holding
  `tracin_pool` x budget tokens; those candidates are re-ranked by their TracIn score with the
  pretrained SAE at one submodule (see `tracin`), and the best re-ranked documents fill the budget;
- `random`: documents in a random order seeded by the seed texts, i.e. general data of the same
  budget (the control for "finetuned on retrieved data" against "finetuned on any data").

Documents are taken in ranking order until their tokens reach the budget (the threshold, when set,
applies to the first-stage merged score). Output in `out_dir`: `tokens/` (ssae.tokens.TokenDataset,
what `shift sae finetune` reads), `selection.jsonl` (every selected document with its scores),
`report.json` and `report.md`. Every user error is found before anything is written; each file is
written atomically, `report.json` last, and a rerun with the same inputs returns the finished
result without recomputing (indexes are cached under `$SHIFT_HOME/retrieval` and shared by runs).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ssae.errors import DataError, ToolkitError
from ssae.io import atomic_path, read_jsonl, shift_home, stable_hash, write_json, write_text
from ssae.retrieval import report as rep
from ssae.retrieval.config import RetrievalConfig
from ssae.retrieval.corpus import (
    Corpus,
    PreparedCorpus,
    file_fingerprint,
    load_corpus,
    prepare_corpus,
    tokenizer_key,
)
from ssae.retrieval.select import Ranking, take_budget


@dataclass
class RetrievalResult:
    """The selected documents, best first, and where they were written."""

    out_dir: Path
    doc_ids: list[str]
    scores: list[float]
    """Final ranking score (TracIn for +tracin methods, else the merged first-stage score)."""
    topics: list[str] | None
    doc_tokens: list[int]
    """Model tokens of each selected document."""
    n_tokens: int
    budget_reached: bool
    report: dict = field(repr=False)

    @property
    def tokens_path(self) -> Path:
        return self.out_dir / "tokens"

    def precision(self, topic: str) -> float:
        """Fraction of the selected documents labelled `topic`."""
        if self.topics is None:
            raise DataError("the corpus has no topic labels; precision needs a 'topic' field")
        return sum(t == topic for t in self.topics) / max(1, len(self.topics))

    @classmethod
    def load(cls, out_dir: str | os.PathLike) -> RetrievalResult:
        out_dir = Path(out_dir)
        report = json.loads((out_dir / "report.json").read_text())
        rows = read_jsonl(out_dir / "selection.jsonl")
        has_topic = bool(rows) and all(r.get("topic") is not None for r in rows)
        return cls(
            out_dir,
            [r["id"] for r in rows],
            [r["score"] for r in rows],
            [r["topic"] for r in rows] if has_topic else None,
            [r["n_tokens"] for r in rows],
            report["selected"]["n_tokens"],
            report["selected"]["budget_reached"],
            report,
        )


def clean_seeds(seeds: list[str], n_seeds: int) -> list[str]:
    """The first n_seeds non-blank seed texts; one-line error when there are none."""
    kept = [s.strip() for s in seeds if isinstance(s, str) and s.strip()]
    if not kept:
        raise DataError("no seed texts: the seed file or list is empty; give at least one example")
    return kept[:n_seeds]


def retrieve(
    corpus: Corpus | str | os.PathLike,
    seeds: list[str],
    lm,
    out_dir: str | os.PathLike,
    config: RetrievalConfig | None = None,
    saes: str | os.PathLike | None = None,
    max_docs: int | None = None,
    **overrides,
) -> RetrievalResult:
    """Select subdomain documents for `seeds` from `corpus` and write them to `out_dir`.

    `lm` is a LoadedModel or a model id/path (only its tokenizer is loaded unless TracIn needs the
    model). `saes` is a dictionary_learning SAE folder (or one ae.pt), needed by the +tracin
    methods. `overrides` set RetrievalConfig fields, e.g. `method="bm25", budget_tokens=10_000`."""
    config = RetrievalConfig(**{**asdict(config or RetrievalConfig()), **overrides})
    out_dir = Path(out_dir)
    seeds = clean_seeds(seeds, config.n_seeds)
    if config.uses_tracin and saes is None:
        raise ToolkitError(f"method {config.method} needs a pretrained SAE: pass --sae-folder DIR")
    sae_path = _sae_path(saes, config, lm) if config.uses_tracin else None

    tokenizer, lm = _tokenizer_and_model(lm, need_model=config.uses_tracin)
    if not isinstance(corpus, Corpus):
        corpus = load_corpus(corpus, max_docs=max_docs, cache_dir=config.cache_dir)
    run_key = stable_hash(
        {
            "config": {k: v for k, v in asdict(config).items() if k not in ("cache_dir",)},
            "corpus": corpus.fingerprint,
            "tokenizer": tokenizer_key(tokenizer),
            "seeds": seeds,
            "sae": file_fingerprint(sae_path) if sae_path else None,
        }
    )
    done = _finished(out_dir, run_key)
    if done is not None:
        return done

    timings = {}
    t0 = time.perf_counter()
    prepared = prepare_corpus(corpus, tokenizer, config.ctx_len, cache_dir=config.cache_dir)
    timings["prepare_s"] = time.perf_counter() - t0
    if config.budget_tokens > prepared.n_tokens:
        raise DataError(
            f"budget of {config.budget_tokens} tokens exceeds the whole corpus ({prepared.n_tokens} "
            f"tokens in {len(prepared)} documents cut to {config.ctx_len}); lower --budget"
        )
    lengths = prepared.lengths
    need = config.budget_tokens
    if config.uses_tracin:
        need = min(prepared.n_tokens, int(config.tracin_pool * config.budget_tokens))

    t0 = time.perf_counter()
    ranking = _first_stage(prepared, seeds, config, need)
    timings["first_stage_s"] = time.perf_counter() - t0
    picked, _ = take_budget(ranking, lengths, need, config.threshold)
    if len(picked) == 0:
        best = float(ranking.scores[0]) if len(ranking.scores) else float("nan")
        raise DataError(
            f"no document scores >= threshold {config.threshold} (best {config.merge_rule}-merged "
            f"{config.first_stage} score: {best:.4f}); lower --threshold or check the seeds"
        )
    first_rows, first_scores = ranking.rows[picked], ranking.scores[picked]

    candidates = None
    if config.uses_tracin:
        t0 = time.perf_counter()
        tr = _tracin(prepared, first_rows, seeds, tokenizer, lm, sae_path, config)
        timings["tracin_s"] = time.perf_counter() - t0
        order = np.argsort(-tr, kind="stable")
        final = Ranking(first_rows[order], tr[order].astype(np.float64), complete=True)
        picked, _ = take_budget(final, lengths, config.budget_tokens)
        candidates = {"n_docs": len(first_rows), "n_tokens": int(lengths[first_rows].sum())}
        if prepared.corpus.topics is not None:
            candidates["per_topic"] = dict(Counter(prepared.topic(int(r)) for r in first_rows))
        sel_rows = final.rows[picked]
        sel_scores = final.scores[picked]
        first_of = dict(zip(first_rows.tolist(), first_scores.tolist()))
        sel_first = np.array([first_of[r] for r in sel_rows.tolist()])
    else:
        sel_rows, sel_scores, sel_first = first_rows, first_scores, first_scores

    n_tokens = int(lengths[sel_rows].sum())
    warnings = []
    if n_tokens < config.budget_tokens:
        warnings.append(
            f"only {n_tokens} of the {config.budget_tokens} budget tokens score above the threshold"
        )
    report = _report(
        config, prepared, seeds, sel_rows, sel_scores, sel_first, n_tokens, candidates, warnings
    )
    report["timings"] = timings
    report["run_key"] = run_key
    _write(out_dir, prepared, sel_rows, sel_scores, sel_first, config, report)
    return RetrievalResult.load(out_dir)


def _first_stage(prepared: PreparedCorpus, seeds: list[str], config, tokens: int) -> Ranking:
    from ssae.retrieval import select

    if config.first_stage == "random":
        order = np.random.default_rng(int(stable_hash(seeds), 16)).permutation(len(prepared))
        return Ranking(order.astype(np.int64), np.zeros(len(order), np.float32), complete=True)
    if config.first_stage == "bm25":
        from ssae.retrieval.bm25 import bm25_index_for

        index = bm25_index_for(prepared, config.cache_dir, k1=config.bm25_k1, b=config.bm25_b)
        return select.rank_bm25(index, seeds, config.merge_rule)
    from ssae.retrieval.dense import dense_index_for

    embedder = _embedder(config)
    index = dense_index_for(prepared, embedder, config.cache_dir, ivf_min_docs=config.ivf_min_docs)
    q = embedder.embed(seeds, progress=False)
    return select.rank_dense_until(
        index, q, config.merge_rule, prepared.lengths, tokens, config.threshold
    )


def embed_corpus(
    corpus: str | os.PathLike, tokenizer: str | os.PathLike, config: RetrievalConfig
) -> None:
    """Embed the documents of `corpus`, cut by `tokenizer` as `retrieve` cuts them, into the
    shard cache of the dense index (ssae.retrieval.dense), so that a later dense `retrieve` over
    the same content only builds its index. Nothing else is cached: the files may not be in their
    final place yet (the tiny world embeds its corpus while its LM trains)."""
    import tempfile

    from ssae.retrieval.dense import corpus_embeddings

    if config.first_stage != "dense":
        return
    tok, _ = _tokenizer_and_model(tokenizer, need_model=False)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = prepare_corpus(load_corpus(corpus), tok, config.ctx_len, cache_dir=tmp)
    cache = config.cache_dir or shift_home() / "retrieval"
    corpus_embeddings(prepared.texts(), _embedder(config), cache, progress=False)


def _embedder(config: RetrievalConfig):
    from ssae.retrieval.embed import Embedder

    return Embedder(
        config.embedder,
        max_length=config.embed_max_length,
        batch_size=config.embed_batch_size,
        dtype=config.embed_dtype,
    )


def _tracin(prepared, rows, seeds, tokenizer, lm, sae_path, config) -> np.ndarray:
    from ssae.retrieval import tracin

    ae, l1_cfg, scale = tracin.load_autoencoder(sae_path, d_model=lm.d_model)
    l1 = (
        config.tracin_l1
        if config.tracin_l1 is not None
        else (l1_cfg if l1_cfg is not None else 0.1)
    )
    ae = ae.to(lm.device)
    spec = lm.submodule(_submodule_name(config, lm, sae_path))
    seed_tok = tokenizer(
        seeds, truncation=True, max_length=config.ctx_len, add_special_tokens=False
    )
    seed_lists = [np.asarray(t, dtype=np.int64) for t in seed_tok["input_ids"] if t]
    G = tracin.seed_gradient(lm, spec, ae, seed_lists, prepared.pad_id, l1, scale)
    docs = [prepared.token_ids(int(r)) for r in rows]
    return tracin.tracin_scores(
        lm, spec, ae, G, docs, prepared.pad_id, l1, config.tracin_batch_docs, scale
    )


def _sae_path(saes, config: RetrievalConfig, lm) -> Path:
    from ssae.retrieval import tracin

    p = Path(saes)
    if not p.exists():
        raise ToolkitError(
            f"SAE folder {p} does not exist; pass --sae-folder DIR (dictionary_learning layout)"
        )
    name = config.tracin_submodule
    if name is None and not (p.is_file() or (p / "ae.pt").exists()):
        have = tracin.available_submodules(p)
        if not have:
            raise ToolkitError(f"{p} holds no SAE folders (<submodule>/[<run>/]ae.pt)")
        name = _middle_resid(have, _n_layers(lm))
    config.tracin_submodule = name
    return tracin.find_sae(p, name or "")


def _middle_resid(names: list[str], n_layers: int | None) -> str:
    resid = [n for n in names if n.startswith("resid_out_layer")]
    if not resid:
        return names[0]
    layers = [int(n.removeprefix("resid_out_layer")) for n in resid]
    mid = (max(layers) if n_layers is None else n_layers - 1) / 2
    return resid[int(np.argmin([abs(i - mid) for i in layers]))]


def _n_layers(lm) -> int | None:
    if hasattr(lm, "n_layers"):
        return lm.n_layers
    cfg = Path(lm) / "config.json" if isinstance(lm, str | os.PathLike) else None
    if cfg is not None and cfg.exists():
        return json.loads(cfg.read_text()).get("num_hidden_layers")
    return None


def _submodule_name(config: RetrievalConfig, lm, sae_path: Path) -> str:
    if config.tracin_submodule:
        return config.tracin_submodule
    # An ae.pt passed directly sits in <submodule>/[<run>/]ae.pt when it follows the layout.
    for part in (sae_path.parent.name, sae_path.parent.parent.name):
        if part == "embed" or part.startswith(
            ("attn_out_layer", "mlp_out_layer", "resid_out_layer")
        ):
            return part
    raise ToolkitError(f"cannot tell which submodule {sae_path} belongs to; pass --submodule NAME")


def _tokenizer_and_model(lm, need_model: bool):
    from ssae.models import LoadedModel, load_model, load_tokenizer

    if isinstance(lm, LoadedModel):
        return lm.tokenizer, lm
    if need_model:
        loaded = load_model(lm)
        return loaded.tokenizer, loaded
    if not isinstance(lm, str | os.PathLike):
        return lm, None  # already a tokenizer
    return load_tokenizer(lm), None


def _finished(out_dir: Path, run_key: str) -> RetrievalResult | None:
    try:
        report = json.loads((out_dir / "report.json").read_text())
    except (OSError, ValueError):
        return None
    if report.get("run_key") != run_key or not (out_dir / "tokens" / "meta.json").exists():
        return None
    return RetrievalResult.load(out_dir)


def _report(config, prepared, seeds, rows, scores, first, n_tokens, candidates, warnings) -> dict:
    topics = None if prepared.corpus.topics is None else [prepared.topic(int(r)) for r in rows]
    report = {
        "config": asdict(config),
        "corpus": {
            "source": prepared.corpus.source,
            "n_docs": len(prepared),
            "n_tokens": prepared.n_tokens,
            "tokenizer": prepared.tokenizer_name,
        },
        "seeds": [s[:300] for s in seeds],
        "merge": config.merge_rule,
        "selected": {
            "n_docs": len(rows),
            "n_tokens": n_tokens,
            "budget_tokens": config.budget_tokens,
            "budget_reached": n_tokens >= config.budget_tokens,
        },
        "candidates": candidates,
        "scores": {f"{config.first_stage} ({config.merge_rule} over seeds)": rep.quantiles(first)},
        "per_topic": None,
        "top_documents": [
            {
                "rank": i + 1,
                "id": prepared.doc_id(int(r)),
                "topic": None if topics is None else topics[i],
                "score": float(scores[i]),
                "first_stage_score": float(first[i]),
                "text": prepared.text(int(r))[:300],
            }
            for i, r in enumerate(rows[: config.top_documents])
        ],
        "warnings": warnings,
    }
    if config.uses_tracin:
        report["scores"]["tracin"] = rep.quantiles(scores)
    if topics is not None:
        all_topics = [prepared.topic(k) for k in range(len(prepared))]
        report["per_topic"] = rep.topic_table(topics, all_topics)
        report["corpus"]["per_topic"] = dict(Counter(all_topics))
    return report


def _write(out_dir, prepared, rows, scores, first, config, report) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    # A stale report.json would mark a half-rewritten folder as finished; it goes first.
    (out_dir / "report.json").unlink(missing_ok=True)
    tokens = prepared.token_dataset(
        rows, source=f"retrieve:{config.method}:{prepared.corpus.source}"
    )
    tokens.save(out_dir / "tokens")
    doc_ids, lens = tokens.doc_ids, tokens.lengths
    with atomic_path(out_dir / "selection.jsonl") as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for j, r in enumerate(rows.tolist()):
            fh.write(
                json.dumps(
                    {
                        "rank": j + 1,
                        "id": doc_ids[j],
                        "topic": prepared.topic(r),
                        "score": float(scores[j]),
                        "first_stage_score": float(first[j]),
                        "n_tokens": int(lens[j]),
                    }
                )
                + "\n"
            )
    write_text(out_dir / "report.md", rep.render_markdown(report))
    write_json(out_dir / "report.json", report)
