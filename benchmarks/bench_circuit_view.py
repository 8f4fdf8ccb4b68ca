"""Circuit explorer at the paper preset's scale: time until a 5,000-node, 50,000-edge circuit's
page is interactive in headless Chromium, and the page's size (issue 30's bar: <= 3 s).

The circuit is `circuits.synthetic.synthetic_circuit` (5,000 features over the 19 submodules of a
6-layer model, an error node per submodule, the metric, 50,000 edges, 10 contexts and 8 logit-lens
tokens per feature). Each page is opened cold (a new Chromium with a new profile per run) from
file:// with the test flags (`tests/browser.py`: --headless --disable-gpu ..., so WebGL is
SwiftShader's software rasteriser). "Interactive" is the page's own mark `circuit-view:ready`
(ms since navigation start): Plotly and the data parsed, every trace drawn, two frames painted,
click handlers bound. Also timed: selecting a node (what a click does) until its card and ring
are painted, and a node-threshold change until the redraw is done.

Wall-clock figures depend on what else the machine runs (the load average before and after is
recorded); the CPU time of the page's main thread until it was ready (Chrome's thread-time
metrics) is the part that does not.

Variants, each against the shipped default (`auto`: SVG on a software rasteriser, opening at the
edge threshold that draws the 2,000 strongest edges):
- `webgl`: Plotly's WebGL traces forced (what `auto` picks on a hardware GPU);
- `all edges`: every one of the 50,000 edges drawn on opening (the obvious alternative);
- `plotly only`: an empty Plotly plot, inlined the same way: the floor set by Plotly's own load.

    .venv/bin/python benchmarks/bench_circuit_view.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the browser driver is the tests' own (tests/browser.py)

from circuits.synthetic import synthetic_circuit  # noqa: E402
from circuits.view import plotly_js, write_circuit_view  # noqa: E402
from ssae.io import write_json, write_text  # noqa: E402
from tests.browser import CHROMIUM, chromium, click_node, open_view, set_threshold  # noqa: E402

BAR_MS = 3000


def plotly_only_page(path: Path) -> Path:
    script = (
        "Plotly.newPlot('p', []).then(() => requestAnimationFrame(() => requestAnimationFrame("
        "() => { performance.mark('circuit-view:ready'); window.circuitView = {ready: true}; })))"
    )
    write_text(
        path,
        "<!DOCTYPE html><html><head><meta charset='utf-8'></head><body><div id='p'></div>"
        f"<script>{plotly_js()}</script><script>{script}</script></body></html>",
    )
    return path


def marks(page) -> dict[str, float]:
    return page.evaluate(
        """() => Object.fromEntries(performance.getEntriesByType('mark')
             .map((m) => [m.name.replace('circuit-view:', ''), Math.round(m.startTime)]))"""
    )


def measure(path: Path, interact: bool) -> dict:
    """One cold open of `path`: marks, wall time, the CPU time of the page's main thread (and of
    its renderer process) until it was ready, and (for explorer pages) interaction latency."""
    with chromium() as browser:
        cdp = {}

        def record(page):
            cdp["session"] = browser.new_cdp_session(page)
            cdp["session"].send("Performance.enable", {"timeDomain": "threadTicks"})

        t0 = time.perf_counter()
        page = open_view(browser, path, timeout_ms=180_000, before=record)
        wall_ms = 1000 * (time.perf_counter() - t0)
        metrics = cdp["session"].send("Performance.getMetrics")["metrics"]
        busy = {m["name"]: m["value"] for m in metrics}
        run = {
            "marks": marks(page),
            "wall_ms": round(wall_ms),
            "main_thread_cpu_ms": round(1000 * busy["TaskDuration"]),
            "script_cpu_ms": round(1000 * busy["ScriptDuration"]),
            "renderer_cpu_ms": round(1000 * busy["ProcessTime"]),
        }
        if interact:
            run["renderer"] = page.evaluate("window.circuitView.renderer")
            run["nodes_drawn"] = page.evaluate("window.circuitView.drawnNodes()")
            run["edges_drawn"] = page.evaluate("window.circuitView.drawnEdges()")
            node = page.evaluate(
                """() => { const d = JSON.parse(document.getElementById('circuit-data').textContent);
                   return d.nodes.filter((n) => n.k === 'feature')
                     .sort((a, b) => Math.abs(b.e) - Math.abs(a.e))[0].id; }"""
            )
            click_node(page, node)  # a real click works (zooms first, so not timed) ...
            # ... and what a click costs: the card, the selection ring, two painted frames
            run["select_to_paint_ms"] = page.evaluate(
                """async (id) => {
                  const t = performance.now();
                  await window.circuitView.select(window.circuitView.nodeIndex(id));
                  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
                  return Math.round(performance.now() - t);
                }""",
                node,
            )
            t = time.perf_counter()
            set_threshold(page, "node", 0.1)
            run["threshold_redraw_ms"] = round(1000 * (time.perf_counter() - t))
        run["errors"] = page.errors
    return run


def summary(runs: list[dict]) -> dict:
    ready = [r["marks"]["ready"] for r in runs]
    out = {"ready_ms_median": statistics.median(ready), "ready_ms": ready}
    for key in ("start", "data", "drawn"):
        if key in runs[0]["marks"]:
            out[f"{key}_ms_median"] = statistics.median(r["marks"][key] for r in runs)
    timed = (
        "wall_ms",
        "main_thread_cpu_ms",
        "script_cpu_ms",
        "renderer_cpu_ms",
        "select_to_paint_ms",
    )
    for key in (*timed, "threshold_redraw_ms"):
        if key in runs[0]:
            out[f"{key}_median"] = statistics.median(r[key] for r in runs)
    for key in ("renderer", "nodes_drawn", "edges_drawn"):
        if key in runs[0]:
            out[key] = runs[0][key]
    out["errors"] = sorted({e for r in runs for e in r["errors"]})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--features", type=int, default=5000)
    ap.add_argument("--edges", type=int, default=50_000)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/circuit_view.json")
    args = ap.parse_args()

    t = time.perf_counter()
    graph = synthetic_circuit(n_features=args.features, n_edges=args.edges)
    build_s = time.perf_counter() - t
    folder = Path(tempfile.mkdtemp(prefix="bench-circuit-view-"))
    t = time.perf_counter()
    pages = {"default": write_circuit_view(graph, folder / "default.html")}
    write_s = time.perf_counter() - t
    pages["webgl"] = write_circuit_view(graph, folder / "webgl.html", renderer="webgl")
    pages["all edges"] = write_circuit_view(graph, folder / "all.html", max_edges=None)
    pages["plotly only"] = plotly_only_page(folder / "plotly.html")

    load_before = os.getloadavg()
    results = {}
    for name, path in pages.items():
        runs = [measure(path, interact=name != "plotly only") for _ in range(args.runs)]
        results[name] = r = {"html_bytes": path.stat().st_size, **summary(runs), "runs": runs}
        print(
            f"{name:12s} ready {r['ready_ms_median']:6.0f} ms, main-thread CPU "
            f"{r['main_thread_cpu_ms_median']:6.0f} ms (medians of {args.runs}), "
            f"{path.stat().st_size / 2**20:5.1f} MiB"
        )
    load_after = os.getloadavg()
    default = results["default"]

    version = subprocess.run([str(CHROMIUM), "--version"], capture_output=True, text=True)
    report = {
        "circuit": {
            "nodes": graph.number_of_nodes(),
            "edges": graph.number_of_edges(),
            "contexts_per_feature": 10,
        },
        "bar_ms": BAR_MS,
        "default_ready_ms_median": default["ready_ms_median"],
        "default_main_thread_cpu_ms_median": default["main_thread_cpu_ms_median"],
        "meets_bar": default["ready_ms_median"] <= BAR_MS,
        "ratios_to_default": {
            name: round(r["ready_ms_median"] / default["ready_ms_median"], 2)
            for name, r in results.items()
        },
        "plotly_js_bytes": len(plotly_js().encode()),
        "write_html_s": round(write_s, 2),
        "build_circuit_s": round(build_s, 2),
        "variants": results,
        "environment": {
            "chromium": version.stdout.strip(),
            "flags": "tests/browser.py ARGS",
            "cpus": os.cpu_count(),
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in load_after],
            "python": platform.python_version(),
            "machine": platform.machine(),
        },
    }
    write_json(args.out, report)
    print(
        f"default: interactive in {default['ready_ms_median']:.0f} ms (bar {BAR_MS} ms "
        f"{'met' if report['meets_bar'] else 'NOT met'}), main-thread CPU "
        f"{default['main_thread_cpu_ms_median']:.0f} ms; ratios {report['ratios_to_default']}; "
        f"load average {load_before[0]:.1f} -> {load_after[0]:.1f} on {os.cpu_count()} CPUs; "
        f"wrote {args.out}"
    )


if __name__ == "__main__":
    main()
