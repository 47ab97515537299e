"""The promises of PROMISES.md (a copy kept in promises.yaml) and their coverage by tests."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

PROMISES_FILE = Path(__file__).with_name("promises.yaml")


@dataclass(frozen=True)
class Promise:
    id: str
    statement: str
    layers: tuple[str, ...]


@dataclass(frozen=True)
class Erratum:
    id: str
    finding: str


@cache
def _load() -> tuple[dict[str, Promise], tuple[Erratum, ...]]:
    data = yaml.safe_load(PROMISES_FILE.read_text())
    promises = {p["id"]: Promise(p["id"], p["statement"], tuple(p["layers"])) for p in data["promises"]}
    errata = tuple(Erratum(e["id"], e["finding"]) for e in data["errata"])
    return promises, errata


def promises() -> dict[str, Promise]:
    return _load()[0]


def errata() -> tuple[Erratum, ...]:
    return _load()[1]


def unknown(ids: Iterable[str]) -> list[str]:
    known = promises()
    return [i for i in ids if i not in known]


#: A promise's statuses, worst first: passed only when every test of it ran and passed.
STATUSES = ("failed", "partial", "skipped", "passed", "not covered")


def verdict(outcomes: Iterable[str]) -> str:
    """A promise's status from the outcomes of its tests: failed if any failed (a setup or
    teardown error counts), passed only if all passed, partial when some passed and others
    skipped, skipped when none ran, not covered when it has no test."""
    seen = set(outcomes)
    if not seen:
        return "not covered"
    if "failed" in seen:
        return "failed"
    if seen == {"passed"}:
        return "passed"
    if "passed" in seen:
        return "partial"
    return "skipped"


@dataclass
class Coverage:
    """Outcomes of the tests that name each promise, during one run."""

    provider: str
    inventory: str | None = None
    results: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)

    def record(self, ids: Iterable[str], test: str, outcome: str, reason: str = "") -> None:
        for pid in ids:
            self.results.setdefault(pid, []).append((test, outcome, reason))

    def status(self, pid: str) -> str:
        return verdict(o for _, o, _ in self.results.get(pid, []))

    def as_json(self) -> dict:
        rows = []
        for pid, p in promises().items():
            tests = self.results.get(pid, [])
            rows.append(
                {
                    "id": pid,
                    "statement": p.statement,
                    "layers": list(p.layers),
                    "status": self.status(pid),
                    "tests": [{"test": t, "outcome": o, "reason": r} for t, o, r in tests],
                }
            )
        counts: dict[str, int] = {}
        for row in rows:
            counts[row["status"]] = counts.get(row["status"], 0) + 1
        return {"provider": self.provider, "inventory": self.inventory, "summary": counts, "promises": rows}
