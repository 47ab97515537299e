"""Chaos on the Kubernetes control plane: LB-08 (a master dies, HAProxy marks it down and
the API keeps answering through the VIP; it comes back when the master does), and MLB-05
with the worker-loss scenario (the worker announcing a LoadBalancer address dies: another
announces it, the node turns NotReady, its pods are rescheduled)."""

from __future__ import annotations

import pytest

from chaos.conftest import record, restore
from chaos.timeline import REPORTS
from provision.facts import announcer, backend_states, has_kubernetes, kubectl_json, node_macs, node_ready
from provision.probe import Probe, lifetime
from provision.pytest_plugin import admin_host, needs


def api_probe(lab, name: str, duration: float) -> Probe:
    plan = lab.plan
    admin = admin_host(plan).name
    args = [str(plan.vip.address), str(plan.vip.port), "/readyz", "0.2", lifetime(lab, duration)]
    return Probe(lab, admin, "https_probe", args, REPORTS / "chaos" / "raw" / f"{name}.jsonl").start()


@pytest.mark.promise("LB-08")
def test_haproxy_marks_a_dead_master_down_and_back(lab, limits, timeline, budget):
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
        record("LB-08 HAProxy marked the dead master down", down - fault, budget["haproxy_mark_down"])
        record("LB-08 HAProxy took the master back after it started", back - start, budget["haproxy_take_back"])
        tl.figures.update(marked_down_s=round(down - fault, 3), back_after_start_s=round(back - start, 3),
                          failed_before_mark=sum(x["result"] != "ok" for x in during), requests_before_mark=len(during))
    finally:
        restore(lab, tl, victim, probe, "API /readyz through the VIP")


def announced_address(svc: dict | None) -> str:
    """The demo LoadBalancer service's address. No such service: skip (nothing to announce).
    A service without an address is MLB-03 broken: a failure, never a skip."""
    if svc is None:
        pytest.skip("no demo LoadBalancer service (demo/demo-lb) in this lab: nothing for MetalLB to announce")
    ingress = svc.get("status", {}).get("loadBalancer", {}).get("ingress") or []
    assert ingress, "MLB-05: the demo LoadBalancer service has no address: MetalLB assigned none (MLB-03), so none can move"
    return ingress[0]["ip"]


def demo_pod_nodes(lab) -> list[str]:
    """The node of every demo pod not being deleted."""
    pods = kubectl_json(lab, "-n", "demo", "get", "pods", "-l", "app=demo")
    return [p["spec"].get("nodeName", "?") for p in (pods or {}).get("items", []) if not p["metadata"].get("deletionTimestamp")]


def demo_pods_on(lab, node: str) -> int:
    return demo_pod_nodes(lab).count(node)


def demo_ready(lab) -> int:
    dep = kubectl_json(lab, "-n", "demo", "get", "deployment", "demo")
    return (dep or {}).get("status", {}).get("readyReplicas", 0) or 0


@pytest.mark.promise("MLB-05")
def test_metallb_address_moves_when_its_node_dies(lab, limits, timeline, budget):
    """Also the worker-loss scenario: the node turns NotReady, its pods are rescheduled."""
    needs(lab, "power", "node faults need power commands (power: in the inventory)")
    if not has_kubernetes(lab):
        pytest.skip("no Kubernetes cluster in this lab: no MetalLB speaker announces an address")
    ip = announced_address(kubectl_json(lab, "-n", "demo", "get", "service", "demo-lb"))
    macs = node_macs(lab)
    admin = admin_host(lab.plan).name
    # The admin host's traffic crosses the gateway, which then holds the announcer's MAC.
    lab.run(admin, ["sh", "-c", f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout 5 nc -w 3 {ip} 80"], timeout=15)
    victim = lab.wait_for("the node announcing the address", lambda: announcer(lab, ip, macs), 60, interval=1)
    replicas = demo_ready(lab)
    tl = timeline("mlb-05-announcing-worker-dies")
    duration = limits.metallb_takeover_s + limits.worker_eviction_s + 60
    probe = Probe(lab, admin, "tcp_probe", [ip, "80", "0.2", lifetime(lab, duration)], REPORTS / "chaos" / "raw" / f"{tl.scenario}.jsonl").start()
    try:
        probe.wait_for(lambda s: sum(x["result"] == "ok" for x in s) >= 5, 20, f"{ip}:80 answering before the fault")
        # Where the answers come from: with every pod on the victim, nothing answers before
        # they are rescheduled, whatever the address does.
        tl.event(f"demo pods on {', '.join(sorted(demo_pod_nodes(lab))) or 'no node'}")
        fault = tl.event(f"poweroff {victim} (announces {ip})")
        lab.poweroff(victim)
        tl.event(f"{victim} gone")
        new = lab.wait_for("another node announcing the address", lambda: (n := announcer(lab, ip, macs)) not in (None, victim) and n,
                           limits.metallb_takeover_s, interval=0.5)
        moved = tl.event(f"{new} announces {ip}")
        samples = probe.wait_for(lambda s: any(x["t"] > moved and x["result"] == "ok" for x in s), limits.metallb_takeover_s,
                                 f"{ip} answering again")
        answered = next(x["t"] for x in samples if x["t"] > moved and x["result"] == "ok")
        tl.event(f"{ip} answers again", answered)
        lab.wait_for(f"{victim} NotReady", lambda: node_ready(lab, victim) is False, limits.worker_eviction_s, interval=1)
        not_ready = tl.event(f"{victim} NotReady")
        lab.wait_for("the demo pods rescheduled off the dead worker",
                     lambda: demo_pods_on(lab, victim) == 0 and demo_ready(lab) >= replicas, limits.worker_eviction_s, interval=1)
        rescheduled = tl.event("demo pods rescheduled")
        record("MLB-05 another node announces the address", moved - fault, budget["metallb_takeover"])
        record("MLB-05 the address answers again", answered - fault, budget["metallb_takeover"])
        record("worker loss: node NotReady", not_ready - fault, budget["node_not_ready"])
        record("worker loss: pods rescheduled", rescheduled - fault, budget["pods_rescheduled"])
        tl.figures.update(takeover_s=round(moved - fault, 3), answers_again_s=round(answered - fault, 3),
                          not_ready_s=round(not_ready - fault, 3), rescheduled_s=round(rescheduled - fault, 3), new_announcer=new)
        # the fault held all along: what moved, moved because its node was down
        assert not lab.running(victim), f"{victim} is running again: the takeover was not shown with it down"
    finally:
        restore(lab, tl, victim, probe, f"{ip}:80 from the admin host")
