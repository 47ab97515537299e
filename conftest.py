"""pytest wiring: options, the promise marker and the promise coverage report."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from provision import promises as _promises
from provision import topology

REPORTS = Path(__file__).with_name("reports")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("underhood")
    group.addoption("--plan", default=None, help="the plan file (default: provision/lab.yaml)")
    group.addoption(
        "--provider",
        default=os.environ.get("LAB_PROVIDER", "auto"),
        help="which lab to check: local, vagrant, existing or auto (also LAB_PROVIDER)",
    )
    group.addoption("--inventory", default=os.environ.get("LAB_INVENTORY"), help="the existing provider's inventory file")
    group.addoption("--allow-chaos", action="store_true", help="let chaos scenarios break an existing lab")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "promise(*ids): the PROMISES.md promises this test checks")
    from provision.errors import UnderhoodError
    from provision.providers import choose

    try:
        provider = choose(config.getoption("--provider"))
    except UnderhoodError:
        provider = config.getoption("--provider")
    config._underhood_coverage = _promises.Coverage(provider=provider, inventory=config.getoption("--inventory"))
    config.pluginmanager.register(_PromiseRecorder(config._underhood_coverage), "underhood-promises")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for mark in item.iter_markers("promise"):
            if not mark.args:
                raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.promise needs at least one promise ID")
            bad = _promises.unknown(mark.args)
            if bad:
                raise pytest.UsageError(
                    f"{item.nodeid}: unknown promise ID(s) {', '.join(bad)}; use an ID of provision/promises.yaml"
                )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    ids = [pid for mark in item.iter_markers("promise") for pid in mark.args]
    if ids:
        # user_properties travel to the xdist controller and into junit.xml.
        report.user_properties.append(("promises", ",".join(ids)))
    return report


class _PromiseRecorder:
    """Collects each promise-marked test's outcome (on the xdist controller too)."""

    def __init__(self, coverage: _promises.Coverage) -> None:
        self.coverage = coverage

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        ids = dict(report.user_properties).get("promises")
        if not ids:
            return
        if report.when == "call" or (report.when == "setup" and not report.passed):
            reason = ""
            if report.skipped and isinstance(report.longrepr, tuple):
                reason = report.longrepr[2].removeprefix("Skipped: ")
            self.coverage.record(ids.split(","), report.nodeid, report.outcome, reason)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    cov: _promises.Coverage = config._underhood_coverage
    if not cov.results:
        return
    data = cov.as_json()
    data["suite"] = _suite_name(config)
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "promises.json").write_text(json.dumps(data, indent=2))
    # one file per suite and provider, merged by `python -m provision report`
    runs = REPORTS / "promises"
    runs.mkdir(exist_ok=True)
    (runs / f"{cov.provider}-{data['suite']}.json").write_text(json.dumps(data, indent=2))
    tr = terminalreporter
    tr.section(f"promise coverage (provider: {cov.provider})")
    for row in data["promises"]:
        outcomes = [t["outcome"] for t in row["tests"]]
        counts = ", ".join(f"{outcomes.count(o)} {o}" for o in ("passed", "failed", "skipped") if o in outcomes)
        reasons = {t["reason"] for t in row["tests"] if t["reason"]}
        extra = f"  ({'; '.join(sorted(reasons))})" if reasons else ""
        tr.write_line(f"{row['id']:<8} {row['status']:<12} {counts or 'no test'}{extra}")
    summary = ", ".join(f"{n} {s}" for s, n in sorted(data["summary"].items()))
    tr.write_line(f"promises: {summary}; written to {REPORTS / 'promises.json'}")


def _suite_name(config: pytest.Config) -> str:
    """The suite a run belongs to (tests, chaos, selftests), from the paths it was given."""
    for arg in config.args:
        top = Path(arg).resolve()
        for part in (top, *top.parents):
            if part.parent == Path(__file__).parent:
                return part.name
    return "tests"


@pytest.fixture(scope="session")
def plan(pytestconfig: pytest.Config) -> topology.Plan:
    """The plan under test, loaded and validated once."""
    return topology.load(pytestconfig.getoption("--plan"))
