"""ETCD-03/04/05: etcd under the loss of its leader, then of its quorum. A client on the
admin host writes and reads throughout; its history must stay linearizable and no
acknowledged write may be lost."""

from __future__ import annotations

import pytest

from chaos.cluster import etcd_healthy, etcd_leader
from chaos.conftest import record
from chaos.history import Op, check
from chaos.probe import Probe
from chaos.timeline import REPORTS
from provision.providers.local.steps.etcd import CLIENT_DIR, etcdctl
from provision.roles.master import etcd_endpoints

KEYS = ["/underhood/chaos/a", "/underhood/chaos/b", "/underhood/chaos/c"]


def admin(lab) -> str:
    return lab.plan.by_role("admin")[0].name


def client(lab, name: str, duration: float) -> Probe:
    args = [",".join(etcd_endpoints(lab.plan)), f"{CLIENT_DIR}/ca.crt", f"{CLIENT_DIR}/client.crt", f"{CLIENT_DIR}/client.key",
            ",".join(KEYS), "0.05", str(duration), "1.0"]
    return Probe(lab, admin(lab), "etcd_client", args, REPORTS / "chaos" / "raw" / f"{name}.jsonl").start()


def ops(samples: list[dict]) -> list[Op]:
    return [Op(s["key"], s["kind"], s["value"], s["invoke"], s["complete"], s["outcome"]) for s in samples]


def ok_writes_after(samples: list[dict], t: float) -> list[dict]:
    return [s for s in samples if s["kind"] == "write" and s["outcome"] == "ok" and s["invoke"] > t]


def audit(lab, samples: list[dict]) -> None:
    final = {}
    for key in KEYS:
        res = etcdctl(lab, admin(lab), "get", key, "--print-value-only")
        assert res.ok, res.stderr
        final[key] = int(res.stdout.strip()) if res.stdout.strip() else None
    verdict = check(ops(samples), final)
    assert verdict.linearizable, verdict.reason
    assert not verdict.lost, f"acknowledged writes lost: {[(o.key, o.value) for o in verdict.lost]}"
    assert sum(1 for s in samples if s["outcome"] == "ok") > 20, "the client hardly ran: the audit proves nothing"


def wait_healthy(lab, limits) -> None:
    lab.wait_for("three healthy etcd members", lambda: etcd_healthy(lab, admin(lab)), limits.etcd_quorum_s)


@pytest.mark.promise("ETCD-03", "ETCD-05")
def test_leader_dies_a_new_one_is_elected_and_writes_go_on(lab, limits, timeline):
    wait_healthy(lab, limits)
    tl = timeline("etcd-05-leader-killed")
    leader = lab.wait_for("an etcd leader", lambda: etcd_leader(lab, admin(lab)), limits.etcd_election_s)
    probe = client(lab, tl.scenario, limits.etcd_election_s + limits.etcd_quorum_s + 40)
    try:
        probe.wait_for(lambda s: len(ok_writes_after(s, 0)) >= 10, 15, "the client writing before the fault")
        fault = tl.event(f"poweroff {leader} (leader)")
        lab.poweroff(leader)
        gone = tl.event(f"{leader} gone")
        new = lab.wait_for("a new leader", lambda: (x := etcd_leader(lab, admin(lab))) not in (None, leader) and x,
                           limits.etcd_election_s)
        elected = tl.event(f"{new} leads")
        samples = probe.wait_for(lambda s: ok_writes_after(s, gone), limits.etcd_election_s, "writes going on")
        resumed = ok_writes_after(samples, gone)[0]["complete"]
        record("ETCD-05 new leader observed (etcdctl poll, an upper bound)", elected - fault)
        record("ETCD-03 writes resumed after leader loss", resumed - fault)
        tl.figures.update(new_leader=new, leader_seen_s=round(elected - fault, 3), writes_resumed_s=round(resumed - fault, 3))
    finally:
        tl.event(f"start {leader}")
        lab.start(leader)
        wait_healthy(lab, limits)
        tl.event("three members healthy")
        probe.stop()
        tl.probes["etcd client"] = [dict(s, t=s["invoke"], result=s["outcome"]) for s in probe.samples()]
    audit(lab, probe.samples())


@pytest.mark.promise("ETCD-04")
def test_without_quorum_writes_stop_and_resume_by_themselves(lab, limits, timeline):
    wait_healthy(lab, limits)
    tl = timeline("etcd-04-quorum-lost")
    victims = [m.name for m in lab.plan.masters[1:3]]
    probe = client(lab, tl.scenario, limits.etcd_quorum_s * 2 + 60)
    try:
        probe.wait_for(lambda s: len(ok_writes_after(s, 0)) >= 10, 15, "the client writing before the fault")
        tl.event(f"poweroff {', '.join(victims)}")
        for v in victims:
            lab.poweroff(v)
        gone = tl.event("quorum lost")
        # writes stop: the client sees failures, and no write invoked well after the loss succeeds
        samples = probe.wait_for(lambda s: sum(1 for x in s if x["invoke"] > gone and x["outcome"] != "ok") >= 5,
                                 limits.etcd_quorum_s, "writes failing without quorum")
        stopped = [s for s in samples if s["kind"] == "write" and s["invoke"] > gone + 3]
        assert stopped and not [s for s in stopped if s["outcome"] == "ok"], "a write succeeded without quorum"
        start = tl.event(f"start {', '.join(victims)}")
        for v in victims:
            lab.start(v)
        samples = probe.wait_for(lambda s: ok_writes_after(s, start), limits.etcd_quorum_s, "writes resuming")
        resumed = ok_writes_after(samples, start)[0]["complete"]
        tl.event("writes resumed", resumed)
        record("ETCD-04 writes resumed after quorum returned", resumed - start)
        tl.figures.update(quorum_recovery_s=round(resumed - start, 3))
    finally:
        for v in victims:
            if not lab.container(v).running():
                lab.start(v)
        wait_healthy(lab, limits)
        probe.stop()
        tl.probes["etcd client"] = [dict(s, t=s["invoke"], result=s["outcome"]) for s in probe.samples()]
    audit(lab, probe.samples())
