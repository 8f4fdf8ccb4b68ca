"""The SSAE studies at one preset: their headline figures and what each costs in wall time.

Runs `shift study STUDY --domain DOMAIN --preset PRESET` for each requested pair (one process
each, sharing SHIFT_HOME, so later studies reuse the runs the earlier ones cached, as a user's
would) and condenses the reports into one table:

- data-selection: area under the test / OOD Pareto curve per method, mean and std over the
  training seeds, and the selection's size and subdomain share;
- tail: logit-lens coverage per token-frequency bucket and planted-concept recall per model
  (GSAE, full-corpus baseline, SSAE, TERM-SSAE, boost);
- pareto: per curve (full-corpus baseline, dense SSAE) and split, the area under the per-seed
  curves (mean and std) and under the best-on-validation curve, absolute and relative to the GSAE;
- term: the ERM / TERM summaries (error mean and max, L0, PCA components, entropy);
- per study: wall seconds of the command (from a clean study cache when SHIFT_HOME starts
  without study stages) and the load average around it (the machine is shared).

Writes benchmarks/results/studies_<preset>.json and .md, and copies each study's own
`<study>.json`, `<study>.md` and figures to benchmarks/results/studies_<preset>/<study>-<domain>/.

    SHIFT_HOME=... .venv/bin/python benchmarks/bench_studies.py --preset tiny \
        --studies tail:physics,data-selection:physics,term:tinystories
    # condense reports already written (wall time = the report's total_s):
    .venv/bin/python benchmarks/bench_studies.py --preset tiny --collect DIR [DIR ...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def run_study(study: str, domain: str, preset: str, out: Path) -> dict:
    cmd = [sys.executable, "-m", "shift.cli", "study", study, "--domain", domain]
    cmd += ["--preset", preset, "--out", str(out), "--quiet"]
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return {"wall_s": round(wall, 1), "load_before": load_before, "load_after": os.getloadavg()}


def condense(report: dict) -> dict:
    """The headline figures of one study report."""
    out = {"total_s": report["total_s"], "stage_s": report["timings_s"]}
    if report["study"] == "data-selection":
        out["methods"] = {
            m: {
                "tokens": v["selection"]["n_tokens"],
                "subdomain_share": v["selection"]["precision"],
                **{
                    split: {k: a[k] for k in ("mean", "std", "n", "per_seed", "best_on_val")}
                    for split, a in v["auc"].items()
                },
            }
            for m, v in report["methods"].items()
        }
        out["gsae_auc"] = report.get("gsae_auc", {})
        out["l0_range_test"] = report["methods"]["dense"]["auc"]["test"]["l0_range"]
        out["seeds"] = report["settings"]["seeds"]
    elif report["study"] == "tail":
        out["buckets"] = [f"{b['lo']}-{b['hi'] - 1}" for b in report["buckets"]]
        out["models"] = {
            label: {
                "coverage": [round(c["share"], 4) for c in m["coverage"]],
                "concept_recall": m["concept_recall"],
                "concept_f1": {c: round(v["best_f1"], 4) for c, v in m["concepts"].items()},
                "test_l0": report["splits"][label]["test"]["l0"],
                "test_ppl": report["splits"][label]["test"]["ppl_spliced"],
            }
            for label, m in report["models"].items()
        }
        first = next(iter(report["models"].values()))
        out["concept_corpus_docs"] = {c: v["corpus_docs"] for c, v in first["concepts"].items()}
    elif report["study"] == "pareto":
        out["gsae"] = {sp: report["gsae"][sp] for sp in ("test", "ood") if sp in report["gsae"]}
        out["curves"] = {
            label: {
                split: {
                    k: a[k]
                    for k in ("l0_range", "mean", "std", "best_on_val", "best_on_val_relative")
                }
                for split, a in curve.items()
            }
            for label, curve in report["curves"].items()
        }
    elif report["study"] == "term":
        keys = ("mean_error", "max_error", "l0", "pca_components_90", "mean_entropy")
        out["objective"] = {
            label: {k: o[k] for k in keys} for label, o in report["objective"].items()
        }
    return out


def markdown(summary: dict) -> str:
    lines = [f"# SSAE studies, {summary['preset']} preset", "", summary["note"], ""]
    lines += ["| study | domain | wall s | load before | load after |", "|---|---|---|---|---|"]
    for s in summary["studies"]:
        lb = s.get("load_before") or ["-"]
        la = s.get("load_after") or ["-"]
        lines.append(f"| {s['study']} | {s['domain']} | {s['wall_s']} | {lb[0]} | {la[0]} |")
    for s in summary["studies"]:
        r = s["figures"]
        if s["study"] == "data-selection":
            lines += ["", f"## data-selection ({s['domain']}), seeds {r['seeds']}", ""]
            lines += [
                "AUC = mean spliced perplexity over the test L0 range "
                f"{r['l0_range_test'][0]:.1f}..{r['l0_range_test'][1]:.1f} (lower is better). "
                "GSAE: " + ", ".join(f"{k} {v:.3f}" for k, v in r["gsae_auc"].items()),
                "",
                "| method | tokens | subdomain share | test AUC mean ± std | ood AUC mean ± std |",
                "|---|---|---|---|---|",
            ]
            for m, v in r["methods"].items():
                share = "-" if v["subdomain_share"] is None else f"{v['subdomain_share']:.2f}"
                cells = [
                    f"{v[sp]['mean']:.3f} ± {v[sp]['std']:.3f}" if sp in v else "-"
                    for sp in ("test", "ood")
                ]
                lines.append(f"| {m} | {v['tokens']} | {share} | {cells[0]} | {cells[1]} |")
        elif s["study"] == "tail":
            lines += ["", f"## tail ({s['domain']})", "", "Logit-lens coverage by bucket:", ""]
            lines += ["| model | " + " | ".join(r["buckets"]) + " | concept recall |"]
            lines += ["|---|" + "---|" * (len(r["buckets"]) + 1)]
            for label, m in r["models"].items():
                cov = " | ".join(f"{c:.2f}" for c in m["coverage"])
                lines.append(f"| {label} | {cov} | {m['concept_recall']:.2f} |")
        elif s["study"] == "pareto":
            lines += ["", f"## pareto ({s['domain']})", ""]
            lines += [
                "AUC = mean spliced perplexity over the split's L0 range (lower is better); "
                "relative = divided by the GSAE's spliced perplexity. GSAE: "
                + ", ".join(
                    f"{sp} L0 {g['l0']:.1f} ppl {g['ppl_spliced']:.3f}"
                    for sp, g in r["gsae"].items()
                ),
                "",
                "| curve | split | L0 range | AUC per seed mean ± std | best on val | relative |",
                "|---|---|---|---|---|---|",
            ]
            for label, curve in r["curves"].items():
                for split, a in curve.items():
                    lo, hi = a["l0_range"]
                    lines.append(
                        f"| {label} | {split} | {lo:.1f}..{hi:.1f} | {a['mean']:.3f} ± "
                        f"{a['std']:.3f} | {a['best_on_val']:.3f} | "
                        f"{a['best_on_val_relative']:.3f} |"
                    )
        elif s["study"] == "term":
            lines += ["", f"## term ({s['domain']})", ""]
            lines += ["| run | mean error | max error | L0 | PCA 90% | entropy |"]
            lines += ["|---|---|---|---|---|---|"]
            for label, o in r["objective"].items():
                lines.append(
                    f"| {label} | {o['mean_error']:.3f} | {o['max_error']:.3f} | {o['l0']:.1f} "
                    f"| {o['pca_components_90']} | {o['mean_entropy']:.3f} |"
                )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="tiny")
    ap.add_argument(
        "--studies",
        default="tail:physics,data-selection:physics,pareto:physics,term:tinystories",
    )
    ap.add_argument("--collect", nargs="*", type=Path, help="report folders already written")
    ap.add_argument(
        "--timings",
        type=Path,
        help="with --collect: JSON {folder name: {wall_s, load_before, load_after}} measured "
        "around commands run by hand",
    )
    ap.add_argument("--note", default="", help="what world / code the figures are from")
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "bench_studies")
    args = ap.parse_args()

    folders, timing = [], {}
    if args.collect:
        folders = list(args.collect)
        if args.timings:
            measured = json.loads(args.timings.read_text())
            timing = {f: measured[f.name] for f in folders if f.name in measured}
    else:
        for pair in args.studies.split(","):
            study, domain = pair.split(":")
            out = args.work / f"{study}-{domain}-{args.preset}"
            timing[out] = run_study(study, domain, args.preset, out)
            folders.append(out)
    copies = RESULTS / f"studies_{args.preset}"
    studies = []
    for folder in folders:
        report_file = next(folder.glob("*.json"))
        report = json.loads(report_file.read_text())
        # The report with its figures, so the Markdown's image links work where it is copied.
        dest = copies / f"{report['study']}-{report['domain']}"
        dest.mkdir(parents=True, exist_ok=True)
        for f in [report_file, report_file.with_suffix(".md"), *folder.glob("*.png")]:
            shutil.copyfile(f, dest / f.name)
        t = timing.get(folder, {"wall_s": report["total_s"], "load_before": None})
        studies.append(
            {"study": report["study"], "domain": report["domain"], **t, "figures": condense(report)}
        )
    summary = {
        "preset": args.preset,
        "note": args.note,
        "studies": studies,
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
    }
    (RESULTS / f"studies_{args.preset}.json").write_text(json.dumps(summary, indent=1) + "\n")
    (RESULTS / f"studies_{args.preset}.md").write_text(markdown(summary))
    print(markdown(summary))


if __name__ == "__main__":
    main()
