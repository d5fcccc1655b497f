"""The report page of the bundled coaching scenario, opened from disk (file://) in headless
Chromium (Debian's, driven by playwright; never a downloaded browser).

Set MPCMIX_UPDATE_SCREENSHOT=1 to rewrite docs/report.png from this run."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator

import pytest
from mpcmix.analysis.measure import Pair
from mpcmix.analysis.report import write_page
from mpcmix.analysis.timeline import state_timeline
from mpcmix.scenario import load_stored_scenario

from ..browser import chromium_context, require_chromium
from ._support import ROOT

require_chromium("tests/report/test_report_page.py")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """A persistent Chromium context with a fresh profile, torn down after the module."""
    with chromium_context(1300, 1000) as context:
        yield context


def _open(browser, url: str, origin: str):
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    # A player with preload='metadata' stops reading its file once it has the header: that
    # request ends "aborted" by design; any other failure is a problem.
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} ({r.failure})")
            if not (r.resource_type == "media" and r.failure == "net::ERR_ABORTED") else None)
    page.on("request", lambda r: problems.append(f"off-site request: {r.url}")
            if not r.url.startswith((origin, "data:")) else None)
    page.goto(url, wait_until="load")
    return page, problems


def _floats(text: str) -> list[list[float]]:
    if text == "—":
        return []
    return [[float(x) for x in span.split("–")] for span in text.split(", ")]


def test_the_coaching_report_loads_every_stream_and_shows_the_measure(browser, coaching_report,
                                                                      tmp_path):
    origin = coaching_report.as_uri()  # opened from disk: the page must need no server
    page, problems = _open(browser, f"{origin}/report.html", origin)
    page.wait_for_function(
        "Array.from(document.querySelectorAll('audio')).every(a => a.readyState >= 1)",
        timeout=15000)
    players = page.evaluate("""Array.from(document.querySelectorAll('audio')).map(a => ({
        src: a.getAttribute('src'), ready: a.readyState, duration: a.duration,
        error: a.error && a.error.code}))""")
    images = page.evaluate("""Array.from(document.images).map(i => ({
        src: i.getAttribute('src'), width: i.naturalWidth}))""")
    rows = page.evaluate("""Array.from(document.querySelectorAll('#who-heard-whom-table tbody tr'))
        .map(r => Array.from(r.cells).map(c => c.textContent))""")
    heatmaps = page.locator("table.heatmap").count()
    coach_cells = page.locator(
        "table.heatmap td[title^='customer ← voice:boss: no, boss is coaching']").count()
    forbidden = page.locator("table.heatmap td.off").count()
    allowed = page.locator("table.heatmap td.on").count()
    verdict = page.locator(".verdict").inner_text()
    screenshot = (ROOT / "docs" / "report.png" if os.environ.get("MPCMIX_UPDATE_SCREENSHOT") == "1"
                  else tmp_path / "report.png")
    page.screenshot(path=str(screenshot))
    seen = list(problems)  # closing the page aborts whatever is still loading: not a problem
    page.close()
    assert seen == []
    expected_streams = {f"listeners/{n}.wav": 20.0 for n in ("agent", "boss", "customer")}
    (recording,) = (coaching_report / "recordings").iterdir()
    expected_streams[f"recordings/{recording.name}"] = 18.0
    assert {p["src"]: p["duration"] for p in players} == pytest.approx(expected_streams)
    assert all(p["ready"] >= 1 and p["error"] is None for p in players)
    assert len(images) == 1 + len(players) and all(i["width"] > 0 for i in images)
    assert heatmaps >= 8 and coach_cells >= 1 and forbidden > allowed > 0
    assert "only inside the spans the routing rules allow" in verdict
    measure = json.loads((coaching_report / "who-heard-whom.json").read_text())
    assert len(rows) == len(measure) == 12
    shown = {(r[0], r[1]): r for r in rows}
    for d in measure:
        _, _, allowed_text, heard_text, level = shown[(d["listener"], d["source"])]
        assert _floats(allowed_text) == d["allowed_spans"]
        assert _floats(heard_text) == d["heard_spans"]
        assert (None if level == "—" else float(level)) == d["level_dbfs"]
    assert screenshot.stat().st_size > 10_000


def test_a_voice_heard_outside_its_allowed_spans_is_listed_first_in_red(browser, coaching_report,
                                                                        tmp_path):
    # The mixer cannot leak, so the page is written from a measure with one leak put in.
    folder = tmp_path / "leaky"
    shutil.copytree(coaching_report, folder)
    scenario = load_stored_scenario(folder)
    pairs = [Pair.from_dict(d) for d in json.loads((folder / "who-heard-whom.json").read_text())]
    leaky = [Pair(p.listener, p.source, p.allowed_spans, ((4.0, 12.0),), -31.0)
             if (p.listener, p.source) == ("customer", "boss") else p for p in pairs]
    write_page(folder, scenario, state_timeline(scenario), leaky)
    page, problems = _open(browser, f"{folder.as_uri()}/report.html", folder.as_uri())
    first = page.locator("#who-heard-whom-table tbody tr").first
    cells = first.locator("td").all_inner_texts()
    colour = first.locator("td").first.evaluate("c => getComputedStyle(c).color")
    verdict = page.locator(".verdict.leak").inner_text()
    seen = list(problems)
    page.close()
    assert seen == []
    assert cells[:2] == ["customer", "boss"] and cells[3] == "4.00–12.00"
    assert colour == "rgb(165, 14, 14)"
    assert "customer heard boss at 4.00–9.00 s" in verdict
