"""The pytest plugin `underhood`: options, the promise marker, the promise coverage report and
the fixtures every suite against the lab uses (plan, lab, host, k8s).

Registered by entry point (pytest11), so it loads wherever underhood is installed; a
repository of one's own writes `@pytest.mark.promise("LB-06")` tests against the lab and runs
`pytest -p underhood`. The project's own conftest.py asks for the same plugin.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from provision import promises as _promises
from provision import topology
from provision.errors import UnderhoodError
from provision.version import version

__all__ = ["needs", "open_lab", "reports_dir", "require_lab"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("underhood")
    group.addoption("--plan", default=None, help="the plan file (default: the plan underhood ships, provision/lab.yaml)")
    group.addoption(
        "--provider",
        default=os.environ.get("LAB_PROVIDER", "auto"),
        help="which lab to check: local, vagrant, existing or auto (also LAB_PROVIDER)",
    )
    group.addoption("--inventory", default=os.environ.get("LAB_INVENTORY"), help="the existing provider's inventory file")
    group.addoption("--allow-chaos", action="store_true", help="let chaos scenarios break an existing lab")
    group.addoption("--budget", action="append", default=[], metavar="KEY=SECONDS",
                    help="override a recovery budget of the chaos suite (e.g. vip_gap=20); repeatable")
    group.addoption("--reports-dir", default=None, metavar="DIR",
                    help="where the promise coverage goes (default: reports/ beside the rootdir, which `report` reads)")
    group.addoption("--allow-absent", action="store_true",
                    help="skip the tests that need a lab when none is up, instead of failing the run (CI plumbing)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "promise(*ids): the PROMISES.md promises this test checks")
    # The fixtures are registered now, after every plugin loaded by entry point: testinfra's
    # plugin has a `host` fixture too, and of two plugins' fixtures the later one is used.
    config.pluginmanager.import_plugin("provision.pytest_fixtures")
    from provision.providers import choose

    try:
        provider = choose(config.getoption("--provider"))
    except UnderhoodError:
        provider = config.getoption("--provider")
    config._underhood_coverage = _promises.Coverage(provider=provider, inventory=config.getoption("--inventory"))
    config.pluginmanager.register(_PromiseRecorder(config._underhood_coverage), "underhood-promises")


def pytest_report_header(config: pytest.Config) -> str:
    return f"underhood {version()}"


def pytest_sessionstart(session: pytest.Session) -> None:
    # JUnit's <properties> say which underhood produced the results. The public fixture
    # (record_testsuite_property) does not work under xdist; the controller's LogXML does.
    try:
        from _pytest.junitxml import xml_key
    except ImportError:
        return
    xml = session.config.stash.get(xml_key, None)
    if xml is not None:
        xml.add_global_property("underhood_version", version())


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
        # the call's outcome; a setup that did not pass instead; a teardown that failed (a
        # restore, the lab not settling) on top, against the same promises
        if report.when == "call" or (report.when == "setup" and not report.passed) or (report.when == "teardown" and report.failed):
            reason = ""
            if report.skipped and isinstance(report.longrepr, tuple):
                reason = report.longrepr[2].removeprefix("Skipped: ")
            self.coverage.record(ids.split(","), report.nodeid, report.outcome, reason)


def reports_dir(config: pytest.Config) -> Path:
    """Where every suite writes its results: `reports/` beside the run's rootdir, unless
    --reports-dir says elsewhere (a self-test's run on a broken lab is not the lab's record)."""
    chosen = config.getoption("--reports-dir")
    return Path(chosen) if chosen else config.rootpath / "reports"


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    cov: _promises.Coverage = config._underhood_coverage
    if not cov.results:
        return
    data = cov.as_json()
    data["suite"] = _suite_name(config)
    data["underhood"] = version()
    reports = reports_dir(config)
    reports.mkdir(exist_ok=True)
    (reports / "promises.json").write_text(json.dumps(data, indent=2))
    # one file per suite and provider, merged by `underhood report`
    runs = reports / "promises"
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
    tr.write_line(f"promises: {summary}; written to {reports / 'promises.json'}")


def _suite_name(config: pytest.Config) -> str:
    """The suite a run belongs to (tests, chaos, selftests): the first directory under the
    rootdir of the paths it was given."""
    for arg in config.args:
        path = Path(arg.split("::")[0]).resolve()
        try:
            parts = path.relative_to(config.rootpath).parts
        except ValueError:
            continue
        if len(parts) > 1 or (parts and path.is_dir()):
            return parts[0]
    return "tests"


class LabAbsent(UnderhoodError):
    """No lab is up where the run looks for one."""


def open_lab(config: pytest.Config, plan: topology.Plan | None = None):
    """The provider of the running lab, as the options name it. Raises UnderhoodError with
    one line when the provider cannot be had, LabAbsent when it has no lab up."""
    from provision import providers

    plan = plan or topology.load(config.getoption("--plan"))
    provider = providers.get(config.getoption("--provider"), plan, inventory=config.getoption("--inventory"),
                             allow_chaos=config.getoption("--allow-chaos"), plan_file=config.getoption("--plan"))
    if provider.name == "existing":
        provider.check_reachable()
    if not provider.is_up():
        raise LabAbsent(f"no lab is up ({provider.name} provider): run `tox -e provision` first (or pass --allow-absent to skip)")
    return provider


def require_lab(session: pytest.Session) -> None:
    """A suite against the lab (a conftest's pytest_sessionstart): no lab, or one that cannot
    be reached, ends the run at once with one line and a non-zero status, never a green
    run of skips. Checked once, on the xdist controller."""
    config = session.config
    if hasattr(config, "workerinput") or config.getoption("--allow-absent") or config.getoption("--collect-only"):
        return
    try:
        open_lab(config)
    except UnderhoodError as exc:
        pytest.exit(str(exc), returncode=2)


def admin_host(plan):
    """The plan's admin host, the documents' jump host where a test's client runs; a plan
    without one skips the test, with the reason."""
    admins = plan.by_role("admin")
    if not admins:
        pytest.skip("the plan has no admin host (role: admin), the documents' jump host where this test's client runs")
    return admins[0]


def needs(lab, capability: str, why: str) -> None:
    """Skip, with the reason, where this lab's provider cannot offer ``capability``."""
    if capability not in lab.capabilities:
        pytest.skip(f"the {lab.name} provider cannot show this: {why}")
