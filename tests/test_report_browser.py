"""The built report in a real headless Chromium, with the network blocked: every image decodes,
the scorecard table is there, and the page asks for nothing beyond file:// and data: URLs."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from emokit.report import build_report

from test_report_build import fake_run  # noqa: F401  (the same tiny artifacts)

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture()
def built(fake_run) -> Path:
    return build_report(fake_run["artifacts"], fake_run["out"], scorecard_dir=fake_run["scorecard"])


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed (Debian: apt-get install -y chromium)")
def test_report_renders_offline_in_chromium(built, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    requested: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda req: requested.append(req.url))
            page.route("http*://**", lambda route: route.abort())
            page.goto(built.as_uri(), wait_until="load")
            images = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
            rows = page.locator("table.sc tbody tr").count()
            title = page.title()
            badges = page.locator(".st").all_inner_texts()
            alts = page.evaluate("Array.from(document.images).map(i => i.alt)")
            # a reader far down the page still has the contents bar, and nothing is wider than the page
            page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
            page.wait_for_timeout(100)
            nav_top = page.evaluate("document.querySelector('nav.toc').getBoundingClientRect().top")
            widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
            page.locator("nav.toc a[href='#ch-00_datasets']").click()
            page.wait_for_timeout(100)
            heading_top = page.evaluate("document.getElementById('ch-00_datasets').getBoundingClientRect().top")
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        finally:
            browser.close()
    assert title.startswith("emokit")
    assert images and all(ok and w > 0 for ok, w in images), images
    assert rows >= 6 + 7  # scorecard rows + one row per chapter
    assert {"measured", "reproduced", "not yet", "not run", "failed"} <= set(badges)
    assert all(a and not a.startswith("No description") for a in alts), alts
    assert nav_top == 0 and widths[0] <= widths[1], (nav_top, widths)
    assert 0 < heading_top < 120, heading_top   # the chapter heading lands below the sticky bar, not under it
    remote = [u for u in requested if not u.startswith(("file:", "data:"))]
    assert not remote, f"the report tried to load {remote}"
    assert (tmp_path / "report.png").stat().st_size > 10_000
