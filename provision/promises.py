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
        outcomes = {o for _, o, _ in self.results.get(pid, [])}
        if not outcomes:
            return "not covered"
        if "failed" in outcomes:
            return "failed"
        if "passed" in outcomes:
            return "passed"
        return "skipped"

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
