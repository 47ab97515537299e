"""ETCD-03/04/05: etcd under the loss of its leader, then of its quorum. A client on the
admin host writes and reads throughout; its history must stay linearizable and no
acknowledged write may be lost."""

from __future__ import annotations

import uuid

import pytest

from chaos.conftest import record
from chaos.history import Op, check
from chaos.timeline import REPORTS
from provision.facts import etcd_healthy, etcd_leader, etcd_status
from provision.probe import Probe, lifetime
from provision.pytest_plugin import admin_host, needs
from provision.roles.master import etcd_endpoints
from provision.steps.etcd import CLIENT_DIR, etcdctl

#: This run's own: keys (and the probe's counter) are never shared with an earlier scenario
#: or an earlier run on the same lab, so each history starts from an absent key.
RUN = uuid.uuid4().hex[:8]


def scenario_prefix(name: str) -> str:
    return f"/underhood/chaos/{RUN}/{name}/"


def scenario_keys(name: str) -> list[str]:
    return [scenario_prefix(name) + k for k in ("a", "b", "c")]


def admin(lab) -> str:
    return admin_host(lab.plan).name


def client(lab, name: str, duration: float) -> Probe:
    args = [",".join(etcd_endpoints(lab.plan)), f"{CLIENT_DIR}/ca.crt", f"{CLIENT_DIR}/client.crt", f"{CLIENT_DIR}/client.key",
            ",".join(scenario_keys(name)), "0.05", lifetime(lab, duration), "1.0"]
    return Probe(lab, admin(lab), "etcd_client", args, REPORTS / "chaos" / "raw" / f"{name}.jsonl").start()


def ops(samples: list[dict]) -> list[Op]:
    return [Op(s["key"], s["kind"], s["value"], s["invoke"], s["complete"], s["outcome"]) for s in samples]


def ok_writes_after(samples: list[dict], t: float) -> list[dict]:
    return [s for s in samples if s["kind"] == "write" and s["outcome"] == "ok" and s["invoke"] > t]


def audit(lab, samples: list[dict], name: str) -> None:
    """The client's history of scenario ``name``, with the values read after it, must be
    linearizable (no acknowledged write lost or rolled back); then its keys are removed."""
    assert sum(1 for s in samples if s["outcome"] == "ok") > 20, "the client hardly ran: the audit proves nothing"
    final = {}
    for key in scenario_keys(name):
        res = etcdctl(lab, admin(lab), "get", key, "--print-value-only")
        assert res.ok, res.stderr
        final[key] = int(res.stdout.strip()) if res.stdout.strip() else None
    verdict = check(ops(samples), final)
    assert not verdict.undecided, f"etcd audit {verdict.reason}"
    assert verdict.ok, verdict.reason
    etcdctl(lab, admin(lab), "del", "--prefix", scenario_prefix(name))


def cut_off_shown(member: str, stale, behind) -> list[str]:
    """The positive control of ETCD-06's refusals: the cut-off member answers a serializable
    read (it runs and is reachable), and its store lacks the majority's write made after the
    cut (it really is cut off). Either missing, its refusals prove nothing."""
    problems = []
    if not stale.ok:
        problems.append(f"{member} does not answer at all while cut off ({stale.stderr.strip()}): its refusals would prove nothing")
    if not behind.ok or behind.stdout.strip():
        problems.append(f"{member} has the majority's write made after the cut ({behind.stdout.strip() or behind.stderr.strip()}): "
                        "it is not cut off")
    return problems


def wait_healthy(lab, limits) -> None:
    lab.wait_for("three healthy etcd members", lambda: etcd_healthy(lab, admin(lab)), limits.etcd_quorum_s)


@pytest.mark.promise("ETCD-03", "ETCD-05")
def test_leader_dies_a_new_one_is_elected_and_writes_go_on(lab, limits, timeline, budget):
    needs(lab, "power", "node faults need power commands (power: in the inventory)")
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
        record("ETCD-05 new leader observed (etcdctl poll, an upper bound)", elected - fault, budget["etcd_leader"])
        record("ETCD-03 writes resumed after leader loss", resumed - fault, budget["etcd_writes_after_leader_loss"])
        tl.figures.update(new_leader=new, leader_seen_s=round(elected - fault, 3), writes_resumed_s=round(resumed - fault, 3))
    finally:
        tl.event(f"start {leader}")
        lab.start(leader)
        wait_healthy(lab, limits)
        tl.event("three members healthy")
        probe.stop()
        tl.probes["etcd client"] = [dict(s, t=s["invoke"], result=s["outcome"]) for s in probe.samples()]
    audit(lab, probe.samples(), tl.scenario)


@pytest.mark.promise("ETCD-04")
def test_without_quorum_writes_stop_and_resume_by_themselves(lab, limits, timeline, budget):
    needs(lab, "power", "node faults need power commands (power: in the inventory)")
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
        record("ETCD-04 writes resumed after quorum returned", resumed - start, budget["etcd_writes_after_quorum"])
        tl.figures.update(quorum_recovery_s=round(resumed - start, 3))
    finally:
        for v in victims:
            if not lab.running(v):
                lab.start(v)
        wait_healthy(lab, limits)
        probe.stop()
        tl.probes["etcd client"] = [dict(s, t=s["invoke"], result=s["outcome"]) for s in probe.samples()]
    audit(lab, probe.samples(), tl.scenario)


def local_etcdctl(lab, master: str, *args: str):
    """etcdctl on a master against its own member only."""
    return etcdctl(lab, master, *args, endpoints=[f"https://127.0.0.1:{lab.plan.etcd.client_port}"])


@pytest.mark.promise("ETCD-06")
def test_a_cut_off_member_serves_nothing_linearizable_and_catches_up(lab, limits, timeline, budget):
    needs(lab, "reach-isolated", "the cut-off member is asked directly, which needs a way in besides its lab link")
    wait_healthy(lab, limits)
    tl = timeline("etcd-06-member-cut-off")
    leader = etcd_leader(lab, admin(lab))
    cut = next(m.name for m in lab.plan.masters if m.name != leader)  # a follower: the majority keeps its leader
    probe = client(lab, tl.scenario, limits.etcd_quorum_s * 3 + 60)
    try:
        probe.wait_for(lambda s: len(ok_writes_after(s, 0)) >= 10, 15, "the client writing before the cut")
        cut_at = tl.event(f"cut {cut} off (switch port down)")
        lab.isolate(cut)
        # the majority side keeps working
        probe.wait_for(lambda s: ok_writes_after(s, cut_at + 1), limits.etcd_election_s, "writes going on on the majority side")
        key, during = scenario_keys(tl.scenario)[0], scenario_prefix(tl.scenario) + "during-cut"
        written = etcdctl(lab, admin(lab), "put", during, "majority")
        assert written.ok, written.stderr
        # Positive control first: the member is up and answers us (a serializable read from
        # its own store), and that store is behind the majority's. Only then do its refusals
        # below mean "no quorum", not "unreachable".
        stale = local_etcdctl(lab, cut, "get", key, "--consistency=s", "--print-value-only")
        behind = local_etcdctl(lab, cut, "get", during, "--consistency=s", "--print-value-only")
        shown = cut_off_shown(cut, stale, behind)
        assert not shown, "; ".join(shown)
        # the cut-off member, still running, serves no linearizable write or read
        assert not local_etcdctl(lab, cut, "put", scenario_prefix(tl.scenario) + "partitioned", "x").ok, f"{cut} took a write while cut off"
        assert not local_etcdctl(lab, cut, "get", key).ok, f"{cut} served a linearizable read while cut off"
        tl.event(f"{cut} answered a serializable read from behind, refused a write and a linearizable read")
        healed = tl.event(f"heal {cut}")
        lab.heal(cut)

        def caught_up() -> bool:
            res = local_etcdctl(lab, cut, "get", during, "--consistency=s", "--print-value-only")
            return res.ok and res.stdout.strip() == "majority"

        lab.wait_for(f"{cut} catching up", caught_up, limits.etcd_quorum_s)
        caught = tl.event(f"{cut} caught up")
        record("ETCD-06 cut-off member caught up after heal", caught - healed, budget["etcd_catch_up"])
        tl.figures.update(catch_up_s=round(caught - healed, 3), stale_read=stale.stdout.strip())
    finally:
        lab.heal(cut)
        wait_healthy(lab, limits)
        probe.stop()
        tl.probes["etcd client"] = [dict(s, t=s["invoke"], result=s["outcome"]) for s in probe.samples()]
    # no divergence: every member reports the same revision once the client has stopped
    lab.wait_for("members agreeing on one revision", lambda: len({
        s["Status"]["header"]["revision"] for s in etcd_status(lab, admin(lab))}) == 1, limits.etcd_quorum_s)
    # (the refused write is indeterminate, like any timed-out write: it is not checked for)
    audit(lab, probe.samples(), tl.scenario)
