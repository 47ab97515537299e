"""The documents' profile: where a plan departs from the documents' lab.

The plan underhood ships (provision/lab.yaml) carries the documents' values, with only the
departures the errata name (DOC-*). A green run on another plan proves that plan, not the
documents' lab: `check` and the report list every value that differs, so nobody mistakes one
for the other."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from provision import topology


@dataclass(frozen=True)
class Departure:
    path: str
    documents: Any  # the documents' value (the shipped plan's); None where they have none
    plan: Any


def _flat(value: Any, path: str = "") -> dict[str, Any]:
    """Leaves by dotted path; a list of named items is keyed by name (hosts[kube-mast01])."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flat(v, f"{path}.{k}" if path else str(k)))
        return out
    if isinstance(value, list | tuple) and value and all(isinstance(v, dict) and "name" in v for v in value):
        out = {}
        for v in value:
            out.update(_flat({k: x for k, x in v.items() if k != "name"}, f"{path}[{v['name']}]"))
        return out
    if isinstance(value, list | tuple) and any(isinstance(v, dict | list | tuple) for v in value):
        out = {}
        for i, v in enumerate(value):
            out.update(_flat(v, f"{path}[{i}]"))
        return out
    return {path: [str(v) for v in value] if isinstance(value, list | tuple) else value}


def _values(plan: topology.Plan) -> dict[str, Any]:
    return _flat(plan.model_dump(mode="json"))


@cache
def _documents() -> dict[str, Any]:
    return _values(topology.load(topology.DEFAULT_PLAN))


def departures(plan: topology.Plan) -> list[Departure]:
    """Every value of ``plan`` that differs from the documents' lab, in the plan's order."""
    docs, mine = _documents(), _values(plan)
    out = [Departure(path, docs.get(path), value) for path, value in mine.items() if docs.get(path) != value]
    out += [Departure(path, value, None) for path, value in docs.items() if path not in mine]
    return out
