"""`python -m provision report`: one self-contained HTML page from the runs' results.

It reads reports/promises/*.json (one per suite and provider), reports/recovery.json,
reports/chaos/*.json and *.png and reports/k8s-conformance.json, and writes reports/index.html with every image inlined, so
the page opens anywhere without a network."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from provision.deadlines import deadlines
from provision.profile import departures
from provision.promises import STATUSES, errata, promises, verdict
from provision.report.diagram import svg
from provision.topology import Plan
from provision.version import version

ORDER = {status: rank for rank, status in enumerate(STATUSES)}


@dataclass
class Cell:
    status: str = "not covered"
    tests: list[dict] = field(default_factory=list)


def merge_runs(directory: Path) -> tuple[list[str], dict[str, dict[str, Cell]]]:
    """Per promise and provider: every suite's tests of it, and the verdict on all of them
    together (passed in one suite and skipped in another is partial)."""
    table: dict[str, dict[str, Cell]] = {pid: {} for pid in promises()}
    providers: list[str] = []
    for path in sorted(directory.glob("*.json")):
        run = json.loads(path.read_text())
        prov = run["provider"]
        if prov not in providers:
            providers.append(prov)
        for row in run["promises"]:
            cell = table.setdefault(row["id"], {}).setdefault(prov, Cell())
            cell.tests += [dict(t, suite=run.get("suite", "")) for t in row["tests"]]
            cell.status = verdict(t["outcome"] for t in cell.tests)
    return providers, table


def _png(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def unproven(table: dict[str, dict[str, Cell]], provider: str) -> list[dict[str, str]]:
    """The promises a provider's runs failed, skipped or proved only in part, each with why:
    the first failing test, or the first reason given for a skip."""
    rows = []
    for pid, cells in table.items():
        cell = cells.get(provider)
        if cell is None or cell.status not in ("failed", "skipped", "partial"):
            continue
        failing = [t for t in cell.tests if t["outcome"] == "failed"]
        skipped = [t for t in cell.tests if t["outcome"] == "skipped"]
        why = f"{failing[0]['test']} failed" if failing else (skipped[0].get("reason") or skipped[0]["test"]) if skipped else ""
        rows.append({"id": pid, "status": cell.status, "why": why})
    return rows


def build(plan: Plan, reports: Path) -> Path:
    providers, table = merge_runs(reports / "promises")
    recovery = json.loads((reports / "recovery.json").read_text()) if (reports / "recovery.json").exists() else {}
    scenarios = []
    for path in sorted((reports / "chaos").glob("*.json")) if (reports / "chaos").exists() else []:
        data = json.loads(path.read_text())
        png = path.with_suffix(".png")
        scenarios.append({"name": data["scenario"], "figures": data.get("figures", {}), "events": data.get("events", []),
                          "plot": _png(png) if png.exists() else None})
    summary = {}
    for prov in providers:
        counts = {s: 0 for s in ORDER}
        for cells in table.values():
            counts[cells.get(prov, Cell()).status] += 1
        summary[prov] = counts
    # what the suite showed of the documents' own choices (chaos/test_doc07.py writes DOC-07's)
    evidence: dict[str, list[dict]] = {}
    for path in sorted((reports / "errata").glob("*.json")) if (reports / "errata").exists() else []:
        found = json.loads(path.read_text())
        evidence.setdefault(found["erratum"], []).append(found)
    # which underhood produced each run, and this page
    runs_by = sorted({json.loads(path.read_text()).get("underhood", "unrecorded") for path in (reports / "promises").glob("*.json")})
    conformance_file = reports / "k8s-conformance.json"
    conformance = json.loads(conformance_file.read_text()) if conformance_file.exists() else None
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(Path(__file__).parent)), autoescape=True)
    html = env.get_template("index.html.j2").render(
        plan=plan, promises=promises(), errata=errata(), providers=providers, table=table, summary=summary,
        recovery=recovery, scenarios=scenarios,
        unproven={prov: unproven(table, prov) for prov in providers}, limits=deadlines(plan), diagram=svg(plan), total=len(promises()),
        version=version(), runs_by=runs_by, departures=departures(plan), evidence=evidence, conformance=conformance,
    )
    reports.mkdir(parents=True, exist_ok=True)  # a report before any run says so, it does not crash
    out = reports / "index.html"
    out.write_text(html)
    return out
