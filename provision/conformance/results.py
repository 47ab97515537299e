"""What a run of Kubernetes' e2e tests found, from ginkgo's JUnit: passed, failed and skipped
per SIG, each failure with its cause, and the tests that witness one of our promises."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field

from provision.conformance import subset
from provision.kube import images

#: ginkgo's states (its JUnit "status") as the report's outcomes.
OUTCOMES = {"passed": "passed", "skipped": "skipped", "pending": "skipped", "failed": "failed", "panicked": "failed",
            "interrupted": "failed", "aborted": "failed", "timedout": "failed"}
#: When ginkgo's suite timeout (the pass's bound, or --minutes) elapsed, its JUnit says so, and
#: the bound ended these, not the lab: the tests it cut ("A suite timeout occurred", not a
#: test's own timeout) and those it never began (a bare "skipped"; a test skipped by itself or
#: by e2e gives its reason).
UNFINISHED = "unfinished"
BOUND_ELAPSED = "Suite Timeout Elapsed"
CUT_BY_BOUND = "A suite timeout occurred"
NEVER_BEGUN = "skipped"


@dataclass
class Case:
    name: str  # the spec's full text, without ginkgo's "[It] "
    outcome: str
    seconds: float
    message: str = ""

    @property
    def sig(self) -> str:
        if self.name.startswith("External Storage"):
            return "sig-storage (the lab's driver)"
        m = re.search(r"\[(sig-[a-z-]+)\]", self.name)
        return m.group(1) if m else "other"


@dataclass
class Results:
    cases: list[Case] = field(default_factory=list)

    def per_sig(self) -> dict[str, dict[str, int]]:
        table: dict[str, dict[str, int]] = {}
        for c in self.cases:
            row = table.setdefault(c.sig, {"passed": 0, "failed": 0, "skipped": 0, UNFINISHED: 0})
            row[c.outcome] += 1
        return dict(sorted(table.items()))

    def counts(self) -> dict[str, int]:
        out = {"passed": 0, "failed": 0, "skipped": 0, UNFINISHED: 0}
        for c in self.cases:
            out[c.outcome] += 1
        return out

    def failures(self) -> list[dict[str, str]]:
        return [{"test": c.name, "cause": cause(c.message), "message": c.message[:600]} for c in self.cases if c.outcome == "failed"]

    def witnesses(self) -> dict[str, list[dict[str, str]]]:
        """Per promise, the e2e tests of it that ran here, with their outcomes."""
        out: dict[str, list[dict[str, str]]] = {}
        for c in self.cases:
            for pid in subset.witnessed(c.name):
                out.setdefault(pid, []).append({"test": c.name, "outcome": c.outcome, "reason": cause(c.message) if c.message else ""})
        return out

    def unwitnessed(self) -> dict[str, list[str]]:
        """Witness patterns that matched no test of the run: a renamed test, or not selected."""
        names = [c.name + " " for c in self.cases]
        return {pid: [p for p in patterns if not any(re.search(p, n) for n in names)]
                for pid, patterns in subset.WITNESSES.items() if any(not any(re.search(p, n) for n in names) for p in patterns)}


def cause(message: str) -> str:
    """Why a test failed, in a few words: an image the lab does not make, a timeout, what the
    test got against what it expected, or the message's first line."""
    pulled = re.search(rf"{re.escape(images.REPOSITORY)}/[\w./-]+:[\w.-]+", message)
    if pulled and re.search(r"ErrImagePull|ImagePullBackOff|failed to pull|not found", message):
        return f"missing image {pulled.group(0)} (underhood does not make it)"
    said = _expectation(message) or _first_line(message)
    if re.search(r"timed out|context deadline exceeded|Timed out", message):
        return "timed out: " + said
    return said


def _expectation(message: str) -> str | None:
    """gomega's "Expected <value> to <match> <value>", on one line (a timeout's first line
    says only how long it waited)."""
    m = re.search(r"Expected\s*\n\s*<[^>]*>: ([^\n]*)\n\s*(to [^\n]*)\n\s*<[^>]*>: ([^\n]*)", message)
    return f'got "{m.group(1)[:120]}", expected {m.group(2)} "{m.group(3)[:120]}"' if m else None


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[0][:200] if lines else ""


#: ginkgo's entries for the suite's own setup and reports, not tests.
SUITE_NODES = ("[SynchronizedBeforeSuite]", "[BeforeSuite]", "[SynchronizedAfterSuite]", "[AfterSuite]", "[ReportAfterSuite]",
               "[ReportBeforeSuite]", "[DeferCleanup (Suite)]")


def parse(xml: str, selected: Callable[[str], bool]) -> Results:
    """The JUnit of one run. ``selected``: the tests the run was asked for; ginkgo lists every
    spec of the suite, and the others are not this lab's skips."""
    root = ET.fromstring(xml)
    results = Results()
    bound_elapsed = any(BOUND_ELAPSED in (p.get("value") or "") for p in root.iter("property") if p.get("name") == "SpecialSuiteFailureReason")
    for case in root.iter("testcase"):
        # "[It] " before, ginkgo's list of the labels after ("[sig-node, Conformance]")
        name = re.sub(r" \[[^\]]*, [^\]]*\]$", "", re.sub(r"^\[It\] ", "", case.get("name", "")))
        if name.startswith(SUITE_NODES) or not selected(name):
            continue  # the suite's own nodes and the specs the run was not asked for
        status = case.get("status") or ("failed" if case.find("failure") is not None or case.find("error") is not None
                                        else "skipped" if case.find("skipped") is not None else "passed")
        detail = case.find("failure")
        if detail is None:
            detail = case.find("error")
        if detail is None:
            detail = case.find("skipped")
        message = "" if detail is None else (detail.get("message") or "") + "\n" + (detail.text or "")
        outcome = OUTCOMES.get(status, "failed")
        if bound_elapsed and ((status == "timedout" and message.startswith(CUT_BY_BOUND))
                              or (status == "skipped" and message.strip() == NEVER_BEGUN)):
            outcome = UNFINISHED
        log = case.findtext("system-err") or ""
        # a pod that never ran says why only in the test's log (its status dumped there)
        pulled = re.search(r"Back-off pulling image \\?\"([^\"\\]+)", log) if outcome == "failed" else None
        if pulled:
            message = f"ImagePullBackOff {pulled.group(1)}\n{message}"
        results.cases.append(Case(name, outcome, float(case.get("time") or 0), message.strip()))
    return results
