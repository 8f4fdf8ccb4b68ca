"""Writing a study's result: `<study>.json` (everything), `<study>.md` (tables) and PNG figures.

Figures are drawn from the JSON-ready result alone (ssae.studies.plots), so they can be redrawn
from the file. AUC figures are the area under the Pareto curve divided by the width of its L0
range: a mean spliced perplexity over that range (lower is better).
"""

from __future__ import annotations

from pathlib import Path

from ssae.io import write_json, write_text
from ssae.studies import plots


def _f(v, spec: str = ".3f") -> str:
    return "-" if v is None else format(v, spec)


def _pm(d: dict) -> str:
    return "-" if d.get("mean") is None else f"{d['mean']:.3f} ± {d['std']:.3f}"


def write(study: str, result: dict, out: Path) -> list[Path]:
    """Write the study's files into `out`; returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / f"{study}.json", result)
    md, figures = _WRITERS[study](result, out)
    head = [
        f"# `shift study {study}`: {result['domain']} ({result['preset']} preset)",
        "",
        f"Submodule `{result['submodule']}`; general SAE L1 {result['gsae_l1']:.4g}. "
        f"Stage times (s): {result['timings_s']}.",
        "",
    ]
    pictures = [f"![]({p.name})" for p in figures]
    write_text(out / f"{study}.md", "\n".join([*head, *md, "", *pictures]) + "\n")
    return [out / f"{study}.json", out / f"{study}.md", *figures]


def _gsae_line(gsae: dict) -> str:
    cells = [
        f"{s}: L0 {m['l0']:.1f}, ppl {m['ppl_spliced']:.3f} (clean {m['clean_ppl']:.3f})"
        for s, m in gsae.items()
    ]
    return "General SAE: " + "; ".join(cells) + "."


def _data_selection(r: dict, out: Path) -> tuple[list[str], list[Path]]:
    methods = r["methods"]
    splits = [s for s in ("test", "ood") if s in next(iter(methods.values()))["auc"]]
    lines = [
        _gsae_line(r["gsae"]),
        "",
        "AUC = mean spliced perplexity over the L0 range (lower is better); per seed: mean ± std "
        "over training seeds; best: the best-on-validation run per L1 factor; rel.: perplexity "
        "divided by the general SAE's.",
        "",
        "| method | selected tokens | subdomain share | "
        + " | ".join(f"{s} AUC per seed | {s} AUC best | {s} rel. best" for s in splits)
        + " |",
        "|---" * (3 + 3 * len(splits)) + "|",
    ]
    gsae_cells = ["GSAE (one point)", "-", "-"]
    for s in splits:
        gsae_cells += ["-", _f(r["gsae_auc"][s]), "1"]
    lines.append("| " + " | ".join(gsae_cells) + " |")
    for m in methods.values():
        sel = m["selection"]
        cells = [m["label"], str(sel["n_tokens"]), _f(sel.get("precision"), ".2f")]
        for s in splits:
            a = m["auc"][s]
            cells += [_pm(a), _f(a["best_on_val"]), _f(a["best_on_val_relative"], ".4f")]
        lines.append("| " + " | ".join(cells) + " |")
    lo, hi = methods["dense"]["auc"]["test"]["l0_range"]
    lines += ["", f"L0 range of the test AUC: {lo:.1f} .. {hi:.1f}."]
    figures = [out / "data_selection_auc.png"]
    labels = [m["label"] for m in methods.values()]
    plots.bars(
        labels,
        {f"{s} (per seed)": [m["auc"][s]["mean"] for m in methods.values()] for s in splits},
        figures[0],
        "Data selection: area under the Pareto curve (mean over seeds)",
        "mean spliced perplexity over the L0 range",
        errors={f"{s} (per seed)": [m["auc"][s]["std"] for m in methods.values()] for s in splits},
    )
    for s in splits:
        path = out / f"data_selection_pareto_{s}.png"
        series = {m["label"]: _xy(m["auc"][s]["front"]) for m in methods.values()}
        g = r["gsae"][s]
        plots.lines(
            series,
            path,
            f"Best-on-validation Pareto fronts ({s})",
            "L0",
            "spliced perplexity",
            logy=True,  # a sweep's sparsest point can be 10-100x worse than the rest
            markers=True,
            span=tuple(m["auc"][s]["l0_range"]),
            points={"GSAE": (g["l0"], g["ppl_spliced"])},
        )
        figures.append(path)
    return lines, figures


def _pareto(r: dict, out: Path) -> tuple[list[str], list[Path]]:
    curves = r["curves"]
    splits = [s for s in ("test", "ood") if s in next(iter(curves.values()))]
    lines = [
        _gsae_line(r["gsae"]),
        "",
        "| curve | split | L1 factor | seed | L0 | ppl | ppl / GSAE |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, c in curves.items():
        for s in splits:
            for p in c[s]["points"]:
                lines.append(
                    f"| {label} | {s} | {p['l1_factor']:g} | {p['seed']} | {p['l0']:.1f} | "
                    f"{p['ppl']:.3f} | {p['relative']:.4f} |"
                )
    lines += [
        "",
        "| curve | split | AUC best | AUC rel. best | AUC per seed | covered |",
        "|---|---|---|---|---|---|",
    ]
    for label, c in curves.items():
        for s in splits:
            a = c[s]
            lines.append(
                f"| {label} | {s} | {_f(a['best_on_val'])} | "
                f"{_f(a['best_on_val_relative'], '.4f')} | {_pm(a)} | {a['covered']:.2f} |"
            )
    figures = []
    for s in splits:
        g = r["gsae"][s]
        for rel in (False, True):
            key = "relative" if rel else "ppl"
            path = out / f"pareto_{s}{'_relative' if rel else ''}.png"
            series = {
                label: ([p["l0"] for p in _sorted(c[s])], [p[key] for p in _sorted(c[s])])
                for label, c in curves.items()
            }
            plots.lines(
                series,
                path,
                f"Spliced perplexity against L0 ({s})",
                "L0",
                "perplexity / GSAE's" if rel else "spliced perplexity",
                logy=True,
                markers=True,
                span=tuple(next(iter(curves.values()))[s]["l0_range"]),
                points={"GSAE": (g["l0"], 1.0 if rel else g["ppl_spliced"])},
            )
            figures.append(path)
    return lines, figures


def _tail_tables(t: dict, out: Path, prefix: str) -> tuple[list[str], list[Path]]:
    models = t["models"]
    buckets = [f"{b['lo']}-{b['hi'] - 1}" for b in t["buckets"]]
    lines = [
        "Logit-lens coverage by token-frequency bucket (count in the test split):",
        "",
        "| model | alive | " + " | ".join(buckets) + " |",
        "|---" * (2 + len(buckets)) + "|",
    ]
    for label, m in models.items():
        cells = [f"{c['share']:.2f}" for c in m["coverage"]]
        lines.append(f"| {label} | {m['alive_features']} | " + " | ".join(cells) + " |")
    figures = [
        out / f"{prefix}coverage_by_bucket.png",
        out / f"{prefix}cumulative_coverage.png",
        out / f"{prefix}counts_by_rank.png",
    ]
    plots.bars(
        buckets,
        {k: [c["share"] for c in m["coverage"]] for k, m in models.items()},
        figures[0],
        "Logit-lens coverage by frequency bucket",
        "share of bucket covered",
    )
    plots.lines(
        {k: (m["cumulative"]["rank"], m["cumulative"]["share"]) for k, m in models.items()},
        figures[1],
        "Cumulative coverage (normalised per model)",
        "token frequency rank",
        "share of the model's covered tokens",
        logx=True,
    )
    plots.lines(
        {
            k: (
                list(range(1, len(m["counts_by_rank"]) + 1)),
                [max(v, 0.5) for v in m["counts_by_rank"]],
            )
            for k, m in models.items()
        },
        figures[2],
        "Feature activation counts",
        "feature rank",
        "tokens fired on",
        logx=True,
        logy=True,
    )
    ratios = {k: m["log_ratio"]["histogram"] for k, m in models.items() if "log_ratio" in m}
    if ratios:
        figures.append(out / f"{prefix}log_ratio.png")
        vs = next(m["log_ratio"]["vs"] for m in models.values() if "log_ratio" in m)
        plots.histograms(ratios, figures[-1], f"log2((M+1)/(B+1)), B = {vs}", "log2 ratio")
        lines += ["", "| model | mean log2 ratio | share up | share down |", "|---|---|---|---|"]
        for k, m in models.items():
            if "log_ratio" in m:
                lr = m["log_ratio"]
                lines.append(
                    f"| {k} | {lr['mean']:.3f} | {lr['share_up']:.3f} | {lr['share_down']:.3f} |"
                )
    if any("concepts" in m for m in models.values()):
        names = list(next(m for m in models.values() if "concepts" in m)["concepts"])
        first = next(m for m in models.values() if "concepts" in m)["concepts"]
        lines += [
            "",
            "Planted tail concepts: best feature F1 (recalled when >= threshold); "
            "corpus docs = documents of the training corpus that mention the concept.",
            "",
            "| concept | corpus docs | " + " | ".join(models) + " |",
            "|---" * (2 + len(models)) + "|",
        ]
        for c in names:
            cells = [_f(m["concepts"][c]["best_f1"], ".2f") for m in models.values()]
            lines.append(f"| {c} | {first[c]['corpus_docs']} | " + " | ".join(cells) + " |")
        lines.append(
            "| recall | | "
            + " | ".join(_f(m.get("concept_recall"), ".2f") for m in models.values())
            + " |"
        )
        figures += [out / f"{prefix}concept_recall.png", out / f"{prefix}recall_vs_frequency.png"]
        plots.bars(
            names,
            {k: [m["concepts"][c]["best_f1"] for c in names] for k, m in models.items()},
            figures[-2],
            "Planted concepts: best feature F1",
            "F1",
        )
        order = sorted(names, key=lambda c: first[c]["corpus_docs"] or 0)
        plots.lines(
            {
                k: (
                    [first[c]["corpus_docs"] for c in order],
                    [m["concepts"][c]["best_f1"] for c in order],
                )
                for k, m in models.items()
            },
            figures[-1],
            "Concept F1 against corpus frequency",
            "corpus documents",
            "F1",
            markers=True,
        )
    return lines, figures


def _tail(r: dict, out: Path) -> tuple[list[str], list[Path]]:
    lines = ["| model | test L0 | test ppl | ood ppl |", "|---|---|---|---|"]
    for label, m in r["splits"].items():
        lines.append(
            f"| {label} | {m['test']['l0']:.1f} | {m['test']['ppl_spliced']:.3f} | "
            f"{_f(m.get('ood', {}).get('ppl_spliced'))} |"
        )
    more, figures = _tail_tables(r, out, "tail_")
    return lines + [""] + more, figures


def _term(r: dict, out: Path) -> tuple[list[str], list[Path]]:
    obj = r["objective"]
    lines = [
        "| run | L0 | test ppl | ood ppl | mean err | max err | PCA 90% | mean max cos | "
        "entropy | max act | concept recall |",
        "|---" * 11 + "|",
    ]
    for label, m in r["splits"].items():
        o, t = obj[label], r["tail"]["models"][label]
        lines.append(
            f"| {label} | {m['test']['l0']:.1f} | {m['test']['ppl_spliced']:.3f} | "
            f"{_f(m.get('ood', {}).get('ppl_spliced'))} | {o['mean_error']:.4g} | "
            f"{o['max_error']:.4g} | {o['pca_components_90']} | {_f(o['max_cos']['mean'])} | "
            f"{o['mean_entropy']:.3f} | {o['mean_max_act']:.3f} | "
            f"{_f(t.get('concept_recall'), '.2f')} |"
        )
    eff, loss = r["tilt_effective_tokens"], r["loss_in_training_units"]
    lines += [
        "",
        "Effective tokens per 1024-token batch under each tilt (1 / sum w^2, w = softmax(t l), l "
        f"= the ERM SAE's per-token squared error in training units, mean {loss['mean']:.3g}, "
        f"std {loss['std']:.3g}): "
        + ", ".join(f"t = {t}: {v:.1f}" for t, v in eff.items())
        + ". Near 1, a tilt trains on the single worst token of each batch.",
    ]
    figures = [
        out / f"term_{n}.png"
        for n in ("error_by_rank", "error_hist", "max_cos", "entropy", "max_act")
    ]
    plots.lines(
        {
            k: (
                [(b["rank_lo"] * b["rank_hi"]) ** 0.5 for b in o["error_by_rank"]],
                [b["mean_error"] for b in o["error_by_rank"]],
            )
            for k, o in obj.items()
        },
        figures[0],
        "Reconstruction error by token frequency rank",
        "token rank",
        "mean squared error",
        logx=True,
        markers=True,
    )
    for path, key, title, x in (
        (figures[1], "error_histogram", "Per-token reconstruction error", "squared error"),
        (figures[2], "max_cos", "Max |cos| of each decoder direction with another", "max |cos|"),
        (figures[3], "entropy_histogram", "Activation entropy per token", "nats"),
        (figures[4], "max_act_histogram", "Maximum activation per token", "activation"),
    ):
        hists = {k: (o[key]["histogram"] if key == "max_cos" else o[key]) for k, o in obj.items()}
        plots.histograms(hists, path, title, x, logy=key == "error_histogram")
    more, tail_figs = _tail_tables(r["tail"], out, "term_")
    return lines + [""] + more, figures + tail_figs


def _xy(front: list) -> tuple[list[float], list[float]]:
    return [p[0] for p in front], [p[1] for p in front]


def _sorted(split: dict) -> list[dict]:
    return sorted(split["points"], key=lambda p: p["l0"])


_WRITERS = {"data-selection": _data_selection, "pareto": _pareto, "tail": _tail, "term": _term}
