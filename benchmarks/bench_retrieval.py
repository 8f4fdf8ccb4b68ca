"""Retrieval speed: corpus preparation, BM25 and dense indexing and querying, TracIn scoring.

Corpus: N synthetic short documents (default 100k; 1-3 sentences drawn from topic word lists, with
biographies as a rare topic), cut to 128 tokens of the real Pythia tokenizer.

- prepare: model-tokenizer cut of every document (docs/s, tokens/s).
- BM25 (bm25s): index build (docs/s, tokens/s) and latency of one 5-seed merged query over the whole
  corpus, against a straightforward Python/NumPy textbook BM25 over the same terms (ratio).
- dense: MiniLM embedding throughput is measured on a subsample (N on 2 CPU cores would take too
  long), in float32 and in the default `auto` precision (bf16 where the CPU has it), with 1 and 2
  torch threads. The FAISS index is then built on N vectors made by tiling the embedded subsample
  and perturbing each copy (Gaussian noise, renormalised) - stated in the output. Query latency
  (5 seeds, max-merge, exact top-k) of the flat index against a NumPy brute-force matrix product
  (ratio), and of an IVF index with its recall@k against the exact result.
- TracIn: scoring cost per candidate document (128 tokens) for a Pythia-70M-sized SAE input
  (d = 512) with the factorised score vs one autograd gradient per document dotted with the seed
  gradient (ratio); the model forward, shared by both, is excluded. Scores are checked equal.

Writes benchmarks/results/bench_retrieval.json.

    .venv/bin/python benchmarks/bench_retrieval.py [--n 100000] [--embed-sample 1000]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from ssae.io import write_json

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
TOKENIZER = ROOT.parent / "shared" / "assets" / "pythia-tokenizer" / "tokenizer.json"

TOPICS = {
    "biography": (
        "professor nurse surgeon attorney degree university graduated worked years career "
        "hospital students research taught joined mentor award published"
    ).split(),
    "sports": "match goal team season coach league players score fans final stadium win".split(),
    "cooking": "bake flour oven recipe butter sugar dough minutes stir serve sauce salt".split(),
    "weather": "rain forecast wind temperature cloudy sunny storm degrees humid snow".split(),
    "finance": "market shares investors bank rates profit stock bonds inflation fund".split(),
    "travel": "flight hotel beach museum tour city train passport guide island trip".split(),
}
GLUE = "the a of and in to with for on was is at by from that this".split()


def synthetic_docs(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    names = list(TOPICS)
    weights = [0.02] + [0.98 / (len(names) - 1)] * (len(names) - 1)
    docs = []
    for i in range(n):
        topic = rng.choices(names, weights)[0]
        words = TOPICS[topic]
        sents = []
        for _ in range(rng.randint(1, 3)):
            k = rng.randint(6, 14)
            toks = [rng.choice(words) if rng.random() < 0.5 else rng.choice(GLUE) for _ in range(k)]
            sents.append(" ".join(toks).capitalize() + ".")
        docs.append({"id": str(i), "text": " ".join(sents), "topic": topic})
    return docs


def timed(fn, *args, repeat: int = 1, **kwargs):
    t = time.perf_counter()
    for _ in range(repeat):
        out = fn(*args, **kwargs)
    return out, (time.perf_counter() - t) / repeat


def textbook_bm25(query_terms, doc_terms, df, n, avgdl, k1=1.5, b=0.75) -> np.ndarray:
    """The obvious alternative: a Python loop over documents with Counter term frequencies."""
    q = set(query_terms)
    idf = {t: math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in q if df.get(t)}
    out = np.zeros(len(doc_terms))
    for j, terms in enumerate(doc_terms):
        tf = Counter(terms)
        norm = k1 * (1 - b + b * len(terms) / avgdl)
        out[j] = sum(idf[t] * tf[t] * (k1 + 1) / (tf[t] + norm) for t in idf if t in tf)
    return out


def bench_bm25(prepared, seeds, results):
    from ssae.retrieval.bm25 import BM25Index, terms
    from ssae.retrieval.select import rank_bm25

    texts = prepared.texts()
    ids = [prepared.doc_id(k) for k in range(len(prepared))]
    index, build_s = timed(BM25Index.build, texts, ids)
    _, query_s = timed(rank_bm25, index, seeds, "max", repeat=5)
    doc_terms = [terms(t) for t in texts]
    df = Counter(w for d in doc_terms for w in set(d))
    avgdl = sum(len(d) for d in doc_terms) / len(doc_terms)
    sample = doc_terms[:10_000]  # the Python loop is slow; extrapolated linearly to N
    ref, ref_s = timed(textbook_bm25, terms(seeds[0]), sample, df, len(doc_terms), avgdl)
    ref_s_full = ref_s * len(doc_terms) / len(sample) * len(seeds)
    np.testing.assert_allclose(index.scores(seeds[0])[: len(sample)], ref, rtol=1e-4, atol=1e-4)
    results["bm25"] = {
        "index_build_s": build_s,
        "index_docs_per_s": len(texts) / build_s,
        "index_tokens_per_s": prepared.n_tokens / build_s,
        "query_5_seeds_ms": 1000 * query_s,
        "python_textbook_query_5_seeds_ms (extrapolated from 10k docs)": 1000 * ref_s_full,
        "speedup_vs_python_textbook": ref_s_full / query_s,
    }
    print(
        f"BM25: build {build_s:.1f}s ({len(texts) / build_s:,.0f} docs/s, "
        f"{prepared.n_tokens / build_s:,.0f} tokens/s); 5-seed query {1000 * query_s:.1f} ms vs "
        f"Python textbook {1000 * ref_s_full:.0f} ms (x{ref_s_full / query_s:.0f})"
    )


def bench_dense(prepared, seeds, n_sample, results):
    from ssae.retrieval.dense import DenseIndex
    from ssae.retrieval.embed import Embedder
    from ssae.retrieval.select import rank_dense

    texts = prepared.texts()[:n_sample]
    sample_tokens = int(prepared.lengths[:n_sample].sum())
    emb = {}
    before = torch.get_num_threads()
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for dtype in ("float32", "auto"):
            e = Embedder("minilm", dtype=dtype, batch_size=256)
            e.embed(texts[:64], progress=False)  # warm-up
            vecs, s = timed(e.embed, texts, progress=False)
            key = f"{dtype}({e.dtype}), {threads} thread(s)"
            emb[key] = {"docs_per_s": len(texts) / s, "model_tokens_per_s": sample_tokens / s}
            print(f"embedding {key}: {len(texts) / s:,.0f} docs/s, {sample_tokens / s:,.0f} tok/s")
            if dtype == "auto":
                sample_vecs = vecs
    torch.set_num_threads(before)
    n = len(prepared)
    rng = np.random.default_rng(0)
    reps = math.ceil(n / len(sample_vecs))
    tiled = np.tile(sample_vecs, (reps, 1))[:n]
    tiled = tiled + 0.05 * rng.standard_normal(tiled.shape).astype(np.float32)
    tiled /= np.linalg.norm(tiled, axis=1, keepdims=True)
    ids = [str(i) for i in range(n)]
    q = Embedder("minilm", batch_size=256).embed(seeds, progress=False)
    k = 1000
    flat, flat_build = timed(DenseIndex.build, tiled, ids)
    r_flat, flat_q = timed(rank_dense, flat, q, "max", k, repeat=5)

    def brute():
        merged = (q @ tiled.T).max(0)
        top = np.argpartition(-merged, k)[:k]
        return top[np.argsort(-merged[top])]

    ref, brute_q = timed(brute, repeat=5)
    assert np.array_equal(np.sort(ref), np.sort(r_flat.rows))
    ivf, ivf_build = timed(DenseIndex.build, tiled, ids, ivf_min_docs=1)
    r_ivf, ivf_q = timed(rank_dense, ivf, q, "max", k, repeat=5)
    recall = len(set(r_ivf.rows) & set(ref)) / k
    results["dense"] = {
        "embedding_sample_docs": len(texts),
        "embedding": emb,
        "index_vectors": n,
        "index_vectors_note": f"{len(sample_vecs)} embedded docs tiled x{reps} + N(0, 0.05^2) "
        "noise, renormalised",
        "flat_build_s": flat_build,
        "flat_query_5_seeds_top1000_ms": 1000 * flat_q,
        "numpy_bruteforce_query_ms": 1000 * brute_q,
        "flat_vs_numpy_ratio": brute_q / flat_q,
        "ivf_nlist": int(ivf.index.nlist),
        "ivf_nprobe": int(ivf.index.nprobe),
        "ivf_build_s": ivf_build,
        "ivf_query_5_seeds_top1000_ms": 1000 * ivf_q,
        "ivf_recall_at_1000": recall,
    }
    print(
        f"FAISS on {n:,} vectors ({results['dense']['index_vectors_note']}): flat build "
        f"{flat_build:.2f}s, query {1000 * flat_q:.1f} ms vs NumPy brute force "
        f"{1000 * brute_q:.1f} ms (x{brute_q / flat_q:.2f}); IVF build {ivf_build:.1f}s, query "
        f"{1000 * ivf_q:.1f} ms, recall@1000 {recall:.3f}"
    )


def bench_tracin(results, d=512, n_feat=4096, n_docs=24, ctx=128):
    from ssae.archs import AutoEncoder
    from ssae.retrieval import tracin

    torch.manual_seed(0)
    ae = AutoEncoder(d, n_feat)
    with torch.no_grad():
        ae.encoder.bias.fill_(-0.05)
    l1 = 0.1
    seeds = torch.randn(5 * ctx, d)
    G = tracin.loss_gradient(ae, seeds, l1)
    docs = [torch.randn(ctx, d) for _ in range(n_docs)]
    x = torch.cat(docs)
    idx = torch.arange(n_docs).repeat_interleave(ctx)
    fact, fact_s = timed(tracin.factored_scores, ae, G, x, idx, n_docs, l1, repeat=3)
    expl, expl_s = timed(tracin.explicit_scores, ae, G, docs, l1)
    torch.testing.assert_close(fact, expl, rtol=2e-3, atol=1e-2 * float(expl.abs().max()))
    per_f, per_e = fact_s / n_docs, expl_s / n_docs
    results["tracin"] = {
        "sae": f"d={d}, n={n_feat}",
        "tokens_per_doc": ctx,
        "factored_ms_per_doc": 1000 * per_f,
        "explicit_autograd_ms_per_doc": 1000 * per_e,
        "speedup": per_e / per_f,
        "explicit_gradient_floats_per_doc": 2 * d * n_feat + d + n_feat,
        "max_abs_rel_diff": float(((fact - expl).abs() / expl.abs().max()).max()),
    }
    print(
        f"TracIn (d={d}, n={n_feat}, {ctx} tokens/doc): factorised {1000 * per_f:.1f} ms/doc vs "
        f"explicit autograd {1000 * per_e:.1f} ms/doc (x{per_e / per_f:.1f})"
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="corpus documents")
    ap.add_argument("--embed-sample", type=int, default=1000, help="documents actually embedded")
    ap.add_argument("--tracin-features", type=int, default=4096)
    args = ap.parse_args()

    from transformers import PreTrainedTokenizerFast

    from ssae.retrieval import load_corpus, prepare_corpus

    tok = PreTrainedTokenizerFast(
        tokenizer_file=str(TOKENIZER), eos_token="<|endoftext|>", pad_token="<|endoftext|>"
    )
    results = {
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "platform": platform.platform(),
            "load_avg": os.getloadavg(),
        },
        "n_docs": args.n,
    }
    seeds = [d["text"] for d in synthetic_docs(500, seed=99) if d["topic"] == "biography"][:5]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "corpus.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in synthetic_docs(args.n)))
        corpus = load_corpus(path)
        prepared, s = timed(prepare_corpus, corpus, tok, 128, cache_dir=Path(tmp) / "cache")
        results["prepare"] = {
            "seconds": s,
            "docs_per_s": len(prepared) / s,
            "tokens_per_s": prepared.n_tokens / s,
            "n_tokens": prepared.n_tokens,
        }
        print(
            f"prepare {len(prepared):,} docs ({prepared.n_tokens:,} tokens): {s:.1f}s, "
            f"{len(prepared) / s:,.0f} docs/s, {prepared.n_tokens / s:,.0f} tokens/s"
        )
        bench_bm25(prepared, seeds, results)
        bench_dense(prepared, seeds, args.embed_sample, results)
    bench_tracin(results, n_feat=args.tracin_features)
    out = ROOT / "benchmarks" / "results" / "bench_retrieval.json"
    write_json(out, results)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
