"""The dashboard in a real browser: Debian's headless Chromium, driven by Playwright, opens `leafline dashboard`
(a real process on 127.0.0.1) over the runs `make demo` recorded, and keeps screenshots in test-artifacts/."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from leafline.processes.server import free_port

CHROMIUM = Path(os.environ.get("LEAFLINE_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# Flags for a closed network: without the background ones Chromium keeps dialling Google (refused here).
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]  # fmt: skip

pytestmark = pytest.mark.skipif(
    not CHROMIUM.is_file(),
    reason=f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium when it runs as root with apt-get "
    "(else: sudo apt-get install chromium, or set LEAFLINE_CHROMIUM to a Chromium binary)",
)


@pytest.fixture
def dashboard(demo_runs: tuple[Path, str, str], tmp_path: Path) -> Iterator[str]:
    """The dashboard command the demo's summary ends with, run from where the demo ran (on a free port)."""
    workdir, _, second = demo_runs
    printed = shlex.split(second.rpartition("runs in the browser: ")[2].splitlines()[0])
    assert printed[:2] == [".venv/bin/leafline", "dashboard"]
    port = free_port()
    log = (tmp_path / "dashboard.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "leafline", *printed[1:], "--port", str(port)],
                               cwd=workdir.parent, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    raise AssertionError(f"no dashboard: {(tmp_path / 'dashboard.log').read_text()}") from None
                time.sleep(0.1)  # until uvicorn listens
        yield url
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def test_the_runs_page_and_a_run_page_render_in_chromium(dashboard: str) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(dashboard)
            rows = page.locator("#runs tbody tr")
            assert rows.count() == 4  # make demo's two projects, twice
            texts = [rows.nth(i).inner_text() for i in range(4)]
            main = [i for i, text in enumerate(texts) if re.search(r"\sleafline-demo\s+v1\s", text)]
            assert len(main) == 2, texts
            assert re.search(r"succeeded\s+2026-11-20\s+leafline-demo\s+v1\s+6,000", texts[main[0]])
            page.screenshot(path=str(ARTIFACTS / "dashboard-runs.png"), full_page=True)

            rows.nth(main[0]).locator("a").click()
            page.wait_for_selector("#plots svg.chart")
            bars = page.locator("#plots svg.chart rect.bar")
            assert bars.count() == 10
            tallest = max(bars.nth(i).bounding_box()["height"] for i in range(10))  # type: ignore[index]
            assert tallest > 20  # drawn, not just present in the page
            assert page.locator("#plots polyline.previous").count() == 1  # the first run's scores, for drift
            assert page.locator("#checks tbody tr").count() >= 9
            page.screenshot(path=str(ARTIFACTS / "dashboard-run.png"), full_page=True)
        finally:
            browser.close()
