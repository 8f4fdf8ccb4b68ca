"""How well each retrieval method finds the subdomain, against a corpus's own topic labels.

For a selection S and target topic c (e.g. biographies in the tiny world):

    precision       = |{d in S : topic(d) = c}| / |S|
    token precision = sum_{d in S, topic(d) = c} tokens(d) / sum_{d in S} tokens(d)
    recall          = |{d in S : topic(d) = c}| / |{d in corpus : topic(d) = c}|

`compare_methods` runs every method with the same seeds and budget and writes the table as
precision.json and precision.md next to the per-method outputs.
"""

from __future__ import annotations

import os
from pathlib import Path

from ssae.io import markdown_table, write_json, write_text
from ssae.retrieval.config import METHODS
from ssae.retrieval.pipeline import RetrievalResult, retrieve


def precision_table(results: dict[str, RetrievalResult], topic: str) -> list[dict]:
    """One row per method: documents, tokens, precision, token precision, recall of `topic`."""
    rows = []
    for method, res in results.items():
        hits = [t == topic for t in (res.topics or [])]
        in_corpus = next(
            (r["in_corpus"] for r in res.report.get("per_topic") or [] if r["topic"] == topic), 0
        )
        rows.append(
            {
                "method": method,
                "n_docs": len(res.doc_ids),
                "n_tokens": res.n_tokens,
                "precision": res.precision(topic),
                "token_precision": sum(n for n, h in zip(res.doc_tokens, hits) if h)
                / max(1, res.n_tokens),
                "recall": sum(hits) / in_corpus if in_corpus else 0.0,
                "seconds": sum(res.report.get("timings", {}).values()),
            }
        )
    return rows


def render_precision_table(rows: list[dict], topic: str) -> str:
    header = ["method", "docs", "tokens", f"precision ({topic})", "token precision", "recall"]
    cells = [
        [r["method"], r["n_docs"], r["n_tokens"], f"{r['precision']:.3f}"]
        + [f"{r['token_precision']:.3f}", f"{r['recall']:.3f}", f"{r['seconds']:.1f}"]
        for r in rows
    ]
    return markdown_table([*header, "seconds"], cells)


def compare_methods(
    corpus,
    seeds: list[str],
    topic: str,
    lm,
    out_dir: str | os.PathLike,
    budget_tokens: int,
    saes: str | os.PathLike | None = None,
    methods: tuple[str, ...] = METHODS,
    **overrides,
) -> tuple[list[dict], dict[str, RetrievalResult]]:
    """Run each method into out_dir/<method> and write out_dir/precision.{json,md}.

    TracIn methods are skipped (and say so in the table's JSON) when `saes` is None."""
    out_dir = Path(out_dir)
    results, skipped = {}, []
    for method in methods:
        if method.endswith("+tracin") and saes is None:
            skipped.append(method)
            continue
        results[method] = retrieve(
            corpus,
            seeds,
            lm,
            out_dir / method.replace("+", "_"),
            saes=saes,
            method=method,
            budget_tokens=budget_tokens,
            **overrides,
        )
    rows = precision_table(results, topic)
    write_json(out_dir / "precision.json", {"topic": topic, "rows": rows, "skipped": skipped})
    write_text(out_dir / "precision.md", render_precision_table(rows, topic))
    return rows, results
