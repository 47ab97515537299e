"""Chaos on the Kubernetes control plane: LB-08 (a master dies, HAProxy marks it down and
the API keeps answering through the VIP; it comes back when the master does). MLB-05 skips
with its reason until MetalLB runs in the lab."""

from __future__ import annotations

import csv
import io

import pytest

from chaos.cluster import has_kubernetes, vip_holder
from chaos.conftest import record
from chaos.probe import Probe
from chaos.timeline import REPORTS
from tests.conftest import needs

ADMIN_SOCK = "/run/haproxy/admin.sock"


def backend_states(lab) -> dict[str, str]:
    """HAProxy's view of each master (UP, DOWN, "DOWN 1/2"...), from the VIP holder."""
    holder = vip_holder(lab)
    if holder is None:
        return {}
    res = lab.run(holder, ["sh", "-c", f"echo 'show stat' | nc -U {ADMIN_SOCK}"], timeout=10)
    if not res.ok or not res.stdout.strip():
        return {}
    rows = list(csv.DictReader(io.StringIO(res.stdout.lstrip("# "))))
    backend = lab.plan.haproxy.backend
    return {r["svname"]: r["status"] for r in rows if r["pxname"] == backend and r["svname"] not in ("FRONTEND", "BACKEND")}


def api_probe(lab, name: str, duration: float) -> Probe:
    plan = lab.plan
    admin = plan.by_role("admin")[0].name
    args = [str(plan.vip.address), str(plan.vip.port), "/readyz", "0.2", str(duration)]
    return Probe(lab, admin, "https_probe", args, REPORTS / "chaos" / "raw" / f"{name}.jsonl").start()


@pytest.mark.promise("LB-08")
def test_haproxy_marks_a_dead_master_down_and_back(lab, limits, timeline):
    needs(lab, "power", "node faults need power commands (power: in the inventory)")
    if not has_kubernetes(lab):
        pytest.skip("no Kubernetes cluster in this lab: HAProxy has no API server to lose")
    masters = [m.name for m in lab.plan.masters]
    lab.wait_for("every master UP in HAProxy", lambda: all(backend_states(lab).get(m) == "UP" for m in masters),
                 limits.master_return_s)
    victim = masters[-1]
    tl = timeline("lb-08-master-down")
    probe = api_probe(lab, tl.scenario, limits.haproxy_mark_down_s + limits.master_return_s + 60)
    try:
        probe.wait_for(lambda s: sum(x["result"] == "ok" for x in s) >= 5, 20, "the API answering through the VIP before the fault")
        fault = tl.event(f"poweroff {victim}")
        lab.poweroff(victim)
        lab.wait_for(f"HAProxy marking {victim} down", lambda: backend_states(lab).get(victim, "").startswith("DOWN"),
                     limits.haproxy_mark_down_s)
        down = tl.event(f"{victim} DOWN in HAProxy")
        # Keeps serving through the other two: every request after the mark-down answers.
        # (One sent just before it may still have gone to the dead master.)
        settle = down + 2.5
        samples = probe.wait_for(lambda s: sum(x["t"] > settle for x in s) >= 25, 30, "the API answering after the mark-down")
        failed = [x for x in samples if x["t"] > settle and x["result"] != "ok"]
        assert not failed, f"LB-08: the API failed through the VIP with {victim} marked down: {failed[:5]}"
        start = tl.event(f"start {victim}")
        lab.start(victim)
        lab.wait_for(f"HAProxy taking {victim} back", lambda: backend_states(lab).get(victim) == "UP", limits.master_return_s)
        back = tl.event(f"{victim} UP in HAProxy")
        during = [x for x in probe.samples() if fault < x["t"] < down]
        record("LB-08 HAProxy marked the dead master down", down - fault)
        record("LB-08 HAProxy took the master back after it started", back - start)
        tl.figures.update(marked_down_s=round(down - fault, 3), back_after_start_s=round(back - start, 3),
                          failed_before_mark=sum(x["result"] != "ok" for x in during), requests_before_mark=len(during))
    finally:
        if not lab.running(victim):
            lab.start(victim)
        probe.stop()
        tl.probes["API /readyz through the VIP"] = probe.samples()


@pytest.mark.promise("MLB-05")
def test_metallb_address_moves_when_its_node_dies(lab):
    needs(lab, "kubernetes", "no Kubernetes runs in this lab")
    pytest.skip("MetalLB is not installed in this lab yet: no speaker announces an address to move")
