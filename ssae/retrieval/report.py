"""What a retrieval run selected, as report.json and a readable report.md.

The report answers: how much was taken (documents, tokens, against the budget), from which topics
when the corpus has topic labels (with the fraction of each topic's documents that was taken), how
the scores of the taken documents are distributed (quantiles), and which documents scored best.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

QUANTILES = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)


def quantiles(values) -> dict[str, float]:
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return {}
    return {f"q{int(q * 100):02d}": float(np.quantile(v, q)) for q in QUANTILES} | {
        "mean": float(v.mean())
    }


def topic_table(selected_topics: list[str], corpus_topics: list[str]) -> list[dict]:
    """Per topic: documents selected, share of the selection, share of the topic that was taken."""
    sel, tot = Counter(selected_topics), Counter(corpus_topics)
    n = max(1, len(selected_topics))
    return [
        {
            "topic": t,
            "selected": sel[t],
            "fraction_of_selection": sel[t] / n,
            "in_corpus": tot[t],
            "recall": sel[t] / tot[t] if tot[t] else 0.0,
        }
        for t in sorted(tot, key=lambda t: (-sel[t], t))
    ]


def render_markdown(report: dict) -> str:
    s = report["selected"]
    c = report["corpus"]
    lines = [
        f"# Retrieval report: {report['config']['method']}",
        "",
        f"- corpus: `{c['source']}`, {c['n_docs']} documents, {c['n_tokens']} tokens "
        f"(cut to {report['config']['ctx_len']} tokens)",
        f"- seeds: {len(report['seeds'])}, merged by {report['merge']}"
        + (f", threshold {report['config']['threshold']}" if report["config"]["threshold"] else ""),
        f"- selected: {s['n_docs']} documents, {s['n_tokens']} tokens "
        f"(budget {s['budget_tokens']}, {'reached' if s['budget_reached'] else 'NOT reached'})",
    ]
    if report.get("candidates") is not None:
        lines.append(
            f"- TracIn candidates (first stage): {report['candidates']['n_docs']} documents"
        )
    if report.get("per_topic"):
        lines += [
            "",
            "## Topics",
            "",
            "| topic | selected | share of selection | recall |",
            "|---|---|---|---|",
        ]
        for row in report["per_topic"]:
            lines.append(
                f"| {row['topic']} | {row['selected']} | {row['fraction_of_selection']:.3f} "
                f"| {row['recall']:.3f} |"
            )
    lines += [
        "",
        "## Scores of the selected documents",
        "",
        "| score | " + " | ".join(QNAMES) + " |",
    ]
    lines.append("|---" * (len(QNAMES) + 1) + "|")
    for name, q in report["scores"].items():
        if q:
            lines.append(f"| {name} | " + " | ".join(f"{q[k]:.4g}" for k in QNAMES) + " |")
    lines += [
        "",
        "## Top documents",
        "",
        "| rank | id | topic | score | text |",
        "|---|---|---|---|---|",
    ]
    for d in report["top_documents"]:
        text = d["text"].replace("|", "\\|").replace("\n", " ")
        lines.append(
            f"| {d['rank']} | {d['id']} | {d.get('topic') or ''} | {d['score']:.4g} | {text} |"
        )
    if report.get("warnings"):
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in report["warnings"]]
    return "\n".join(lines) + "\n"


QNAMES = [f"q{int(q * 100):02d}" for q in QUANTILES] + ["mean"]
