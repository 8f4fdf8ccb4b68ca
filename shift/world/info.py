"""Human-readable summary of a built world, from its manifest."""

from __future__ import annotations

from shift.world.config import RARE_TOPICS


def format_info(m: dict) -> str:
    """A few lines: sizes, topic counts (rare subdomains first), BiB groups, held-out CE."""
    s, ev = m["sizes"], m["eval"]
    lines = [
        f"world {m['preset']} (seed {m['seed']}, fingerprint {m['fingerprint']})",
        f"  corpus: {s['docs']} docs, {s['tokens']} tokens; held-out: {s['heldout_docs']} docs, "
        f"{s['heldout_tokens']} tokens",
        f"  tokenizer: byte-level BPE, vocabulary {s['vocab']}",
        f"  model: GPTNeoX, {s['params']} parameters, "
        f"{m['config']['model']['num_layers']} layers, d={m['config']['model']['hidden_size']}, "
        f"ctx {m['config']['model']['ctx_len']}",
        "  rare subdomains: " + ", ".join(f"{t} {m['topics'].get(t, 0)} docs" for t in RARE_TOPICS),
        "  general topics: "
        + ", ".join(f"{t} {n}" for t, n in m["topics"].items() if t not in RARE_TOPICS),
        f"  held-out CE (nats/token): model {ev['model_ce']:.3f} vs unigram {ev['unigram_ce']:.3f} "
        f"(general topics {ev['general_model_ce']:.3f} vs {ev['general_unigram_ce']:.3f})",
        "  held-out CE by subdomain: "
        + ", ".join(
            f"{t} {ev['per_topic'][t]['model_ce']:.3f} vs {ev['per_topic'][t]['unigram_ce']:.3f}"
            for t in RARE_TOPICS
            if t in ev["per_topic"]
        ),
    ]
    for split, groups in m["bib"].items():
        total = sum(g["male"] + g["female"] for g in groups.values())
        pairs = ", ".join(f"{p} {g['male']}m/{g['female']}f" for p, g in groups.items())
        lines.append(f"  bib {split}: {total} bios ({pairs})")
    t = m["timings_s"]
    lines.append(
        f"  build time: {t['total']:.1f} s ("
        + ", ".join(f"{k} {v:.1f}" for k, v in t.items() if k != "total")
        + ")"
    )
    return "\n".join(lines)
