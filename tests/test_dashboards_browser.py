"""End to end in a real browser (Debian's chromium driven by playwright, no browser download):
``smartmall dashboards`` on the main job's data; open it, move a filter, build and save a segment,
download the weekly report, and take screenshots of three pages.

Screenshots go to a temporary folder, or to ``$SMARTMALL_SCREENSHOTS`` when set (the README's
images in ``docs/screenshots`` are made that way).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import sync_playwright

from tests.commerce_fixtures import _free_port

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# flags the machine needs: no sandbox as root, and no calls home (the network is closed)
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]

@pytest.fixture(scope="module")
def dashboards_url(small_home):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: ./run.sh test installs Debian's chromium (scripts/chromium.sh)")
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "dashboards", "--port", str(port)], cwd=REPO,
                            env={**os.environ, "SMARTMALL_HOME": str(small_home)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"smartmall dashboards did not start:\n{proc.stdout.read()}")
        time.sleep(0.3)
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield b
        b.close()


def _metric(page, label: str) -> str:
    box = page.locator('[data-testid="stMetric"]', has_text=label).first
    return box.locator('[data-testid="stMetricValue"]').inner_text()


def _wait_idle(page) -> None:
    """Until Streamlit has finished the run the last action started (and drawn its tables)."""
    page.wait_for_timeout(300)
    page.wait_for_selector('[data-test-script-state="notRunning"]', timeout=60_000)
    page.wait_for_timeout(700)


def _choose(page, label: str, option: str) -> None:
    box = page.locator('[data-testid="stSelectbox"]', has_text=label).first
    box.click()
    page.locator('[role="option"]', has_text=option).first.click()
    _wait_idle(page)


def test_an_analyst_and_a_marketer_use_the_dashboards(dashboards_url, browser, small_home, tmp_path):
    shots = Path(os.environ.get("SMARTMALL_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page.goto(dashboards_url)
    page.get_by_role("heading", name="Overview").wait_for(timeout=60_000)
    _wait_idle(page)
    all_regions = _metric(page, "GMV")
    assert all_regions.startswith("¥")
    page.screenshot(path=str(shots / "overview.png"))

    # an analyst narrows to one region: the numbers change and the URL says so
    _choose(page, "Region", "east")
    page.wait_for_url("**region=east**", timeout=30_000)
    assert _metric(page, "GMV") != all_regions

    # the customers page keeps the filters and shows the segments
    page.locator('[data-testid="stSidebarNav"] a', has_text="Customers").click()
    page.get_by_role("heading", name="Customers").wait_for(timeout=60_000)
    _wait_idle(page)
    assert "region=east" in page.url
    page.screenshot(path=str(shots / "customers.png"))

    # a marketer builds a segment and saves it
    page.locator('[data-testid="stSidebarNav"] a', has_text="Segment picker").click()
    page.get_by_role("heading", name="Segment picker").wait_for(timeout=60_000)
    _wait_idle(page)
    everyone = _metric(page, "Audience")
    page.locator('[data-testid="stMultiSelect"]', has_text="RFM segment").first.click()
    page.locator('[role="option"]', has_text="Champions").first.click()
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Update audience").click()
    _wait_idle(page)
    champions = _metric(page, "Audience")
    assert champions != everyone and champions.endswith("members")
    page.screenshot(path=str(shots / "segment_picker.png"))
    page.get_by_label("Segment name (lower-case, digits, - or _)").fill("champions-east")
    page.get_by_role("button", name="Save segment").click()
    page.get_by_text("Saved segment 'champions-east' as version 1").wait_for(timeout=30_000)
    saved = json.loads((small_home / "segments" / "champions-east.json").read_text())
    assert saved["versions"][0]["rule"]["rfm_segments"] == ["Champions"]

    # the weekly report downloads
    page.locator('[data-testid="stSidebarNav"] a', has_text="Weekly report").click()
    page.get_by_role("heading", name="Weekly operating report").wait_for(timeout=60_000)
    _wait_idle(page)
    assert "region=east" in page.url  # the filters followed every page
    with page.expect_download() as download:
        # (not the data table's own toolbar button of the same name)
        page.locator('[data-testid="stDownloadButton"] button', has_text="Download as CSV").click()
    csv = Path(download.value.path()).read_text()
    assert csv.splitlines()[0].startswith("metric,label,this_week")
    assert "Traffic (sessions)" in csv
    page.close()
