"""Headless Debian Chromium for the tests of the circuit explorer (`circuits.view`), driven by
Playwright's Python package with the system browser (`executable_path`), so nothing is downloaded.

Chromium starts with a fresh profile folder and without its background services: on a closed
network their connection attempts stall it (`make test` installs `chromium` from Debian).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1400, "height": 900}


def missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing: apt-get install -y chromium (make test installs it)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing: pip install playwright (make test installs it)"
    return None


@contextlib.contextmanager
def chromium() -> Iterator:
    """A Playwright browser context of headless Chromium with a fresh profile."""
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                profile,
                executable_path=str(CHROMIUM),
                headless=True,
                args=ARGS,
                viewport=VIEWPORT,
            )
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def open_view(context, path: Path, timeout_ms: int = 60_000, before=None):
    """A page showing the explorer at `path` (file://), once it is drawn and painted; page errors
    are collected in `page.errors`, the URLs it requested in `page.requests`. `before(page)` runs
    before the page loads (e.g. to start recording metrics)."""
    page = context.new_page()
    if before is not None:
        before(page)
    page.errors, page.requests, page.last_click = [], [], 0.0
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("request", lambda r: page.requests.append(r.url))
    page.goto(Path(path).resolve().as_uri(), timeout=timeout_ms)
    page.wait_for_function("window.circuitView && window.circuitView.ready", timeout=timeout_ms)
    return page


def drawn_points(page, meta: str = "nodes") -> int:
    """Points Plotly holds in the traces of one kind (`nodes`, `overlay`), read from the plot."""
    return page.evaluate(
        """(meta) => document.getElementById('plot').data
             .filter((t) => t.meta === meta).reduce((s, t) => s + t.x.length, 0)""",
        meta,
    )


def drawn_segments(page) -> int:
    """Edge segments Plotly holds: each is two points and a gap."""
    return page.evaluate(
        """() => document.getElementById('plot').data.filter((t) => t.meta === 'edges')
             .reduce((s, t) => s + t.x.length / 3, 0)"""
    )


def node_pixel(page, node_id: str) -> tuple[float, float]:
    """Where a drawn node is on the page, from Plotly's own axis mapping."""
    return tuple(
        page.evaluate(
            """(id) => {
              const gd = document.getElementById('plot');
              const i = window.circuitView.nodeIndex(id);
              const tr = gd.data.find((t) => t.meta === 'nodes' && t.customdata.includes(i));
              const k = tr.customdata.indexOf(i);
              const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
              const box = gd.getBoundingClientRect();
              return [box.left + xa._offset + xa.l2p(tr.x[k]), box.top + ya._offset + ya.l2p(tr.y[k])];
            }""",
            node_id,
        )
    )


def zoom_to(page, node_id: str, half_width: float = 4.0) -> None:
    """Zoom the x axis to the node's neighbourhood, as a reader does before clicking a node in a
    crowded row (Plotly picks any marker whose disc covers the pointer)."""
    page.evaluate(
        """([id, w]) => {
          const gd = document.getElementById('plot');
          const i = window.circuitView.nodeIndex(id);
          const tr = gd.data.find((t) => t.meta === 'nodes' && t.customdata.includes(i));
          const x = tr.x[tr.customdata.indexOf(i)];
          return Plotly.relayout(gd, {'xaxis.range': [x - w, x + w]});
        }""",
        [node_id, half_width],
    )


def click_node(page, node_id: str, attempts: int = 3) -> None:
    """Zoom to the node, hover it until Plotly reports it under the pointer, then a real mouse
    click; waits for its card. A click Plotly drops (it arrived while a redraw was still
    settling) is tried again, up to `attempts` times; a card that never shows fails."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(attempts):
        settle(page)
        zoom_to(page, node_id)
        settle(page)
        x, y = node_pixel(page, node_id)
        page.mouse.move(1, 1)  # off the plot first: the node may sit where the last one did
        page.mouse.move(x, y)
        page.wait_for_function(
            """(id) => {
              const hover = document.getElementById('plot')._hoverdata || [];
              return hover.some((p) => p.customdata === window.circuitView.nodeIndex(id));
            }""",
            arg=node_id,
            timeout=10_000,
        )
        # Plotly reads two clicks within its doubleClickDelay (300 ms) as a double click
        page.wait_for_timeout(max(0.0, 400 - 1000 * (time.monotonic() - page.last_click)))
        page.mouse.click(x, y)
        page.last_click = time.monotonic()
        try:
            page.wait_for_function(
                "(id) => document.getElementById('card').dataset.node === id",
                arg=node_id,
                timeout=5_000,
            )
            return
        except PlaywrightTimeout:
            if attempt == attempts - 1:
                raise


def set_threshold(page, which: str, value: float) -> None:
    """Type a threshold into the `node` or `edge` threshold box, as a reader does."""
    box = page.locator(f"#{which}-threshold")
    box.fill(repr(value))
    box.dispatch_event("change")
    settle(page)


def settle(page) -> None:
    """Wait until the page's last redraw is done."""
    page.evaluate("() => window.circuitView.settled()")
