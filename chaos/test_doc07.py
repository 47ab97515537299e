"""DOC-07, a finding about the documents' design, shown side by side: one etcd member stops
answering (frozen with SIGSTOP) while its node and its API server run on, and a client uses
the API through the VIP the whole time. With the documents' `tcp-check` the API server's port
stays open, HAProxy keeps it UP and the client's requests to it fail; with kubeadm's advice
(`GET /readyz` over TLS, the plan's `haproxy.check: readyz`) HAProxy takes it out and the
client sees no failure after that. The documents' check stays the plan's default: the
`readyz` run rewrites haproxy.cfg on both load balancers for its duration only."""

from __future__ import annotations

import base64
import json

import pytest

from chaos.test_kubernetes import api_probe
from chaos.timeline import REPORTS
from provision.errors import UnderhoodError
from provision.facts import backend_states, etcd_healthy, has_kubernetes
from provision.pytest_plugin import admin_host
from provision.roles.loadbalancer import HAPROXY_CFG, haproxy_cfg
from provision.topology import Plan

#: Requests judged after HAProxy had its chance to act (0.2 s apart: 5 s of traffic).
JUDGED = 25


def with_check(plan: Plan, check: str) -> Plan:
    return plan.model_copy(update={"haproxy": plan.haproxy.model_copy(update={"check": check})})


def put_haproxy_cfg(lab, plan: Plan, password: str) -> None:
    """haproxy.cfg as ``plan`` renders it, on both load balancers, reloaded where haproxy runs
    (pacemaker runs it on the VIP's holder only)."""
    for lb in plan.loadbalancers:
        text = base64.b64encode(haproxy_cfg(plan, lb, password).encode()).decode()
        res = lab.run(lb.name, ["sh", "-c", f"echo {text} | base64 -d > {HAPROXY_CFG}.new && haproxy -c -q -f {HAPROXY_CFG}.new "
                                            f"&& mv {HAPROXY_CFG}.new {HAPROXY_CFG} && systemctl try-reload-or-restart haproxy"], timeout=60)
        assert res.ok, f"{lb.name}: haproxy.cfg with check {plan.haproxy.check}: {res.stderr or res.stdout}"


@pytest.mark.parametrize("check", ["tcp", "readyz"])
def test_doc07_an_etcd_member_that_stops_answering_behind_each_haproxy_check(lab, limits, timeline, check):
    if not has_kubernetes(lab):
        pytest.skip("no Kubernetes cluster in this lab: no API server stands on an etcd member")
    password = lab.stats_password()
    if password is None:
        pytest.skip(f"the {lab.name} provider does not know HAProxy's stats password: haproxy.cfg cannot be rewritten for this run")
    plan = lab.plan
    run_plan = with_check(plan, check)
    victim = plan.masters[-1].name
    admin = admin_host(plan).name
    tl = timeline(f"doc-07-{check}")
    tl.figures["haproxy_check"] = check
    rewritten = run_plan.haproxy.check != plan.haproxy.check
    if rewritten:
        put_haproxy_cfg(lab, run_plan, password)
    masters = [m.name for m in plan.masters]
    probe = None
    frozen = False
    try:
        lab.wait_for("every master UP in HAProxy", lambda: all(backend_states(lab).get(m) == "UP" for m in masters),
                     limits.master_return_s)
        probe = api_probe(lab, tl.scenario, limits.haproxy_mark_down_s + 60)
        probe.wait_for(lambda s: sum(x["result"] == "ok" for x in s) >= 5, 20, "the API answering through the VIP before the fault")
        fault = tl.event(f"etcd frozen on {victim} (SIGSTOP); its node and API server run on")
        res = lab.run(victim, ["sh", "-c", "kill -STOP $(pgrep -x etcd)"], timeout=30)
        assert res.ok, res.stderr
        frozen = True
        try:
            lab.wait_for(f"HAProxy marking {victim} down", lambda: backend_states(lab).get(victim, "").startswith("DOWN"),
                         limits.haproxy_mark_down_s, interval=0.5)
            marked = tl.event(f"{victim} DOWN in HAProxy")
        except UnderhoodError:
            marked = None
            tl.event(f"{victim} still UP in HAProxy after {limits.haproxy_mark_down_s:g} s")
        judged_from = (marked or fault + limits.haproxy_mark_down_s) + 2.5  # a request sent before the mark-down may still fail
        samples = probe.wait_for(lambda s: sum(x["t"] > judged_from for x in s) >= JUDGED, 30, "requests after HAProxy's chance to act")
        judged = [x for x in samples if x["t"] > judged_from][:JUDGED]
        failed = [x for x in judged if x["result"] != "ok"]
        tl.figures.update(marked_down_s=round(marked - fault, 3) if marked else None, failed_after=len(failed), judged=len(judged))
    finally:
        if frozen:
            lab.run(victim, ["sh", "-c", "kill -CONT $(pgrep -x etcd)"], timeout=30)
            lab.wait_for("etcd healthy", lambda: etcd_healthy(lab, admin), limits.etcd_quorum_s)
        if rewritten:
            put_haproxy_cfg(lab, plan, password)
        if probe is not None:
            probe.stop()
            tl.probes["API /readyz through the VIP"] = probe.samples()
    evidence = REPORTS / "errata" / f"DOC-07-{check}.json"
    evidence.parent.mkdir(parents=True, exist_ok=True)
    evidence.write_text(json.dumps({"erratum": "DOC-07", "run": f"haproxy check {check}" + (" (the documents')" if check == plan.haproxy.check else ""),
                                    "marked_down_s": tl.figures["marked_down_s"], "failed": len(failed), "judged": len(judged),
                                    "timeline": tl.scenario}, indent=1))
    if check == "readyz":
        assert marked is not None, f"GET /readyz did not take {victim}'s API server out of HAProxy with its etcd member frozen"
        assert not failed, f"{len(failed)} of {len(judged)} requests failed through the VIP after the mark-down: {failed[:3]}"
    else:
        # the finding itself: if the documents' check ever took it out, DOC-07 would be stale
        assert marked is None, f"the documents' tcp-check marked {victim} down: DOC-07 no longer holds, revise it"
        assert failed, f"no request failed through the VIP with {victim}'s etcd frozen and its API server UP: DOC-07 not shown"
