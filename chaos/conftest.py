"""Fixtures of the chaos suite: timelines, recorded recovery figures, the cluster settled after
every scenario (the lab and its hosts come from the underhood plugin)."""

from __future__ import annotations

import json
import statistics

import pytest

from chaos.timeline import REPORTS, Timeline
from provision import waiting
from provision.deadlines import Budget, Deadlines, budgets, deadlines
from provision.facts import has_kubernetes, kubernetes_settled, kubernetes_shape
from provision.pytest_plugin import require_lab

_FIGURES: dict[str, list[float]] = {}
_BUDGETS: dict[str, Budget] = {}
#: Figures over their budget while the current test ran: it fails at teardown, after its restore.
_OVER: list[str] = []

# no lab up: one line and a failed run, before any scenario
pytest_sessionstart = require_lab


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    # Each scenario's events and long waits as lines on the terminal, as they happen (the
    # terminal reporter writes past pytest's capture); CI logs get the same lines. Last: the
    # terminal reporter is registered by its own pytest_configure.
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and not hasattr(config, "workerinput"):
        waiting.tell(reporter.write_line)


def pytest_unconfigure(config: pytest.Config) -> None:
    waiting.tell(None)


@pytest.fixture(scope="session", autouse=True)
def chaos_allowed(lab) -> None:
    """Chaos breaks the lab: on an existing lab only when the user says so."""
    if "chaos" not in lab.capabilities:
        pytest.exit(f"chaos on the {lab.name} provider needs --allow-chaos (and power commands for node faults)", returncode=2)


@pytest.fixture(scope="session")
def limits(plan) -> Deadlines:
    return deadlines(plan)


@pytest.fixture(scope="session")
def budget(plan, lab, pytestconfig) -> dict[str, Budget]:
    """Each measured recovery's budget (provision/deadlines.py), with the user's --budget; its
    margin as many times longer as the provider's hosts are slower (VMs under emulation)."""
    overrides = {}
    for item in pytestconfig.getoption("--budget"):
        key, _, value = item.partition("=")
        try:
            overrides[key] = float(value)
        except ValueError:
            raise pytest.UsageError(f"--budget {item}: give KEY=SECONDS, e.g. --budget vip_gap=20") from None
    try:
        return budgets(plan, overrides, slowdown=getattr(lab, "wait_scale", 1.0))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


@pytest.fixture(autouse=True)
def within_budget():
    """A scenario whose recovery took longer than its budget fails, after its restore."""
    _OVER.clear()
    yield
    if _OVER:
        over = "; ".join(_OVER)
        _OVER.clear()
        pytest.fail(f"over budget: {over}", pytrace=False)


@pytest.fixture(autouse=True)
def kubernetes_whole_again(lab, limits):
    """After every scenario: the Kubernetes cluster whole again (nodes Ready, its pods back)
    before the next fault, so no scenario measures the last one's recovery. A scenario that
    replaced no pod and restarted no container waits only for every kubelet's next lease."""
    before = kubernetes_shape(lab) if has_kubernetes(lab) else None
    yield
    if has_kubernetes(lab):
        kubernetes_settled(lab, limits.kubernetes_whole_s, unchanged_since=before)


@pytest.fixture
def timeline(request):
    """timeline(name) -> a Timeline written to reports/chaos/ when the test ends."""
    made: list[Timeline] = []

    def _make(name: str) -> Timeline:
        made.append(Timeline(name))
        return made[-1]

    yield _make
    for t in made:
        t.write()


def restore(lab, tl: Timeline, host: str, probe=None, label: str | None = None) -> None:
    """The scenario's always-run restore: ``host`` started again if it is down (an event on
    the timeline), then ``probe`` stopped and its samples kept under ``label``."""
    if not lab.running(host):
        tl.event(f"start {host}")
        lab.start(host)
    if probe is not None:
        probe.stop()
        tl.probes[label or probe.agent] = probe.samples()


def record(name: str, seconds: float, budget: Budget) -> None:
    """A measured recovery time, for reports/recovery.json and the terminal summary, held to
    its budget."""
    _FIGURES.setdefault(name, []).append(round(seconds, 3))
    _BUDGETS[name] = budget
    if seconds > budget.seconds:
        _OVER.append(f"{name} took {seconds:.2f} s, budget {budget.seconds:g} s ({budget.why})")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _FIGURES:
        return
    out = {}
    for name, values in _FIGURES.items():
        b = _BUDGETS[name]
        out[name] = {"runs": values, "min": min(values), "median": statistics.median(values), "max": max(values),
                     "budget": b.seconds, "budget_key": b.key, "budget_why": b.why, "within": max(values) <= b.seconds}
    REPORTS.mkdir(exist_ok=True)
    path = REPORTS / "recovery.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    previous.update(out)
    path.write_text(json.dumps(previous, indent=2))
    terminalreporter.section("measured recovery (seconds)")
    for name, f in sorted(out.items()):
        verdict = "within" if f["within"] else "OVER"
        terminalreporter.write_line(f"{name:<55} min {f['min']:.2f}  median {f['median']:.2f}  max {f['max']:.2f}  ({len(f['runs'])} run(s))"
                                    f"  budget {f['budget']:g} s: {verdict}")
