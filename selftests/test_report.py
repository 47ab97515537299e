"""The HTML report: built from recorded runs, self-contained, and checked in a real
headless browser (Debian's chromium) that it loads with one row per promise and visible plots."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from chaos.timeline import Timeline
from provision import topology
from provision.promises import Coverage, promises
from provision.report import browser, merge_runs
from provision.report import build as build_report

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("reports")
    (d / "promises").mkdir()
    for suite, entries in {"tests": [("NET-01", "passed", ""), ("HOST-07", "skipped", "no disks"), ("LB-03", "passed", "")],
                           "chaos": [("LB-06", "passed", ""), ("NET-01", "failed", ""), ("LB-03", "skipped", "no pair")]}.items():
        cov = Coverage(provider="local")
        for pid, outcome, reason in entries:
            cov.record([pid], f"{suite}/test_{pid}", outcome, reason)
        data = cov.as_json()
        data["suite"] = suite
        (d / "promises" / f"local-{suite}.json").write_text(json.dumps(data))
    tl = Timeline("lb-06-example")
    tl.event("poweroff hapx-node01", 100.5)
    tl.event("VIP on hapx-node02", 107.2)
    tl.probes["vip"] = [{"t": 100 + i / 10, "result": "ok" if i < 5 or i > 72 else "timeout"} for i in range(100)]
    tl.figures["gap_s"] = 6.8
    tl.write(d / "chaos")
    (d / "recovery.json").write_text(json.dumps({
        "LB-06 VIP gap": {"runs": [6.8, 6.9], "min": 6.8, "median": 6.85, "max": 6.9, "budget": 16.6, "budget_key": "vip_gap",
                          "budget_why": "corosync token 3 s + consensus 3.6 s", "within": True},
        "LB-08 mark down": {"runs": [31.0], "min": 31.0, "median": 31.0, "max": 31.0, "budget": 28, "budget_key": "haproxy_mark_down",
                            "budget_why": "fall 3 x (inter 2 s + connect 4 s)", "within": False}}))
    (d / "errata").mkdir()
    for check, marked, failed in (("tcp", None, 9), ("readyz", 7.4, 0)):
        (d / "errata" / f"DOC-07-{check}.json").write_text(json.dumps(
            {"erratum": "DOC-07", "run": f"haproxy check {check}", "marked_down_s": marked, "failed": failed, "judged": 25,
             "timeline": f"doc-07-{check}"}))
    build_report(topology.load(), d)
    return d


def build_page(plan, reports: Path) -> str:
    return build_report(plan, reports).read_text()


def test_merge_judges_every_suites_tests_together(reports):
    providers, table = merge_runs(reports / "promises")
    assert providers == ["local"]
    assert table["NET-01"]["local"].status == "failed"  # failed in chaos, passed in tests
    assert table["LB-03"]["local"].status == "partial"  # passed in tests, skipped in chaos
    assert table["HOST-07"]["local"].status == "skipped"
    assert table["LB-06"]["local"].status == "passed"
    assert "local" not in table["SEC-06"] or table["SEC-06"]["local"].status == "not covered"


def test_page_is_self_contained_with_a_row_per_promise(reports):
    html = (reports / "index.html").read_text()
    assert len(re.findall(r'<tr data-promise="', html)) == len(promises())
    assert "data:image/png;base64," in html and "<svg" in html
    assert not re.search(r'(src|href)="(https?:)?//', html), "the page must not need a network"
    assert "6.80 s" in html and "DOC-03" in html
    assert re.search(r'<tr data-promise="LB-03">.*?<td class="partial">partial', html, re.S)
    assert re.search(r'<td class="passed">16.6 s</td><td class="small">corosync token 3 s', html)
    assert '<td class="failed">28 s — over</td>' in html
    assert "Every value of this plan is the documents'" in html and 'id="departures"' not in html
    doc07 = re.search(r'<tr data-erratum="DOC-07">(.*?)</tr>', html, re.S)[1]
    assert "haproxy check tcp: HAProxy kept the API server UP; 9 of 25 requests" in doc07
    assert "haproxy check readyz: HAProxy took the API server out after 7.4 s; 0 of 25" in doc07


def test_the_first_screen_says_what_is_not_proven_and_why_before_the_promise_table(reports):
    html = (reports / "index.html").read_text()
    first = html[:html.index('<table id="promises">')]
    unproven = re.search(r'<table class="unproven" data-provider="local">(.*?)</table>', first, re.S)
    assert unproven, "the summary lists no promise left unproven"
    rows = dict((pid, (status, why)) for pid, status, why in
                re.findall(r'<tr><td>([A-Z0-9-]+)</td><td class="\w+">(\w+)</td><td class="small">(.*?)</td></tr>', unproven[1]))
    assert rows == {"NET-01": ("failed", "chaos/test_NET-01 failed"), "HOST-07": ("skipped", "no disks"),
                    "LB-03": ("partial", "no pair")}
    assert 'id="recovery"' in first and "6.85 s" in first  # the recovery figures too
    # and the plan's settings they depend on
    gluster = topology.load().gluster
    assert f"network.ping-timeout = {gluster.ping_timeout_s} s" in first
    assert f"cluster.brick-multiplex {'on' if gluster.brick_multiplex else 'off'}" in first


def test_picture_of_the_first_screen_from_the_command_line(reports, tmp_path):
    if browser.chromium() is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    picture = tmp_path / "report.png"
    subprocess.run([sys.executable, "-m", "provision", "report", "--reports", str(reports), "--picture", str(picture)],
                   cwd=ROOT, check=True, capture_output=True, timeout=300)
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and picture.stat().st_size > 10_000


def test_page_names_a_plans_departures_from_the_documents(reports, build):
    import copy

    from selftests.conftest import _RAW

    raw = copy.deepcopy(_RAW)
    raw["corosync"]["token"] = 5000
    html = build_page(build(raw), reports)
    build_page(topology.load(), reports)  # the module's page back to the documents' plan
    assert re.search(r'<table id="departures">.*<td>corosync.token</td><td>3000</td><td>5000</td>', html, re.S)
    assert "departs from the documents' lab in 1 value(s)" in html


def test_page_in_a_headless_browser(reports):
    if browser.chromium() is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    page = f"file://{reports / 'index.html'}"
    dom = browser.dom(page)
    shot = browser.screenshot(page, ROOT / "reports" / "report-screenshot.png", 1280, 2000)
    body = re.search(r"<body[^>]*>", dom)
    assert body, "the browser did not load the page"
    plots = re.search(r'data-plots="(\d+)"', body[0])
    visible = re.search(r'data-plots-visible="(\d+)"', body[0])
    assert plots and visible and int(plots[1]) >= 1 and visible[1] == plots[1], body[0]
    assert len(re.findall(r'<tr data-promise="', dom)) == len(promises())
    assert shot.exists() and shot.stat().st_size > 10_000


def test_bench_figures_beside_the_previous_ones():
    from provision.bench import beside_previous

    lines = beside_previous({"warm_up_s": 135.0, "cold_build_s": 762.0, "underhood": "0.1.0"},
                            {"warm_up_s": 90.0, "down_s": 2.1, "lab_memory_mib": 900.0, "underhood": "0.1.0+g1"})
    assert lines[0].startswith("warm_up_s") and lines[0].endswith("x0.67") and "before    135.0 s" in lines[0]
    assert lines[1] == "down_s                  2.1 s   (no earlier figure)"
    assert len(lines) == 2  # memory and the version are no times
