"""STO-06: one Gluster node down: the volume stays readable and writable; when the node
returns, self-heal completes and the bricks agree. No acknowledged record is lost. Held twice
in one fault: on the plan's volume, mounted on the admin host, and on the demo's claim, which
its writer pod appends fsync'ed records to (provision/records.py)."""

from __future__ import annotations

import pytest

from chaos.conftest import record
from chaos.timeline import REPORTS
from provision import records
from provision.probe import Probe, lifetime
from provision.pytest_plugin import admin_host, needs

MOUNT = "/mnt/underhood-chaos-sto06"
FILE = "sto-06.log"


def heal_pending(lab, node: str, volume: str) -> int | None:
    """Entries still to heal on every brick, or None while a brick is not connected."""
    res = lab.run(node, ["gluster", "volume", "heal", volume, "info", "summary"], timeout=30)
    if not res.ok or "Transport endpoint is not connected" in res.stdout:
        return None
    counts = [int(ln.split(":")[1]) for ln in res.stdout.splitlines() if ln.strip().startswith("Total Number of entries:")]
    return sum(counts) if len(counts) == len(lab.plan.glusters) else None


def healed(lab, node: str, volume: str) -> bool:
    """Nothing left to heal on ``volume``; else the self-heal daemon is asked to (after a
    partition it may wait cluster.heal-timeout, 600 s)."""
    if heal_pending(lab, node, volume) == 0:
        return True
    lab.run(node, ["gluster", "volume", "heal", volume], timeout=60)
    return False


@pytest.mark.promise("STO-06")
def test_one_gluster_node_down_then_heal(lab, limits, timeline, budget, host):
    needs(lab, "power", "node faults need power commands (power: in the inventory)")
    plan = lab.plan
    g = plan.gluster
    client = admin_host(plan).name
    victim = plan.glusters[-1].name
    survivor = plan.glusters[0].name
    tl = timeline("sto-06-gluster-node-down")
    t = host(client)
    t.run(f"systemd-umount {MOUNT}; systemctl reset-failed")  # a mount left by an interrupted run
    t.run_expect([0], f"systemd-mount -t glusterfs {plan.fqdn(plan.glusters[0])}:/{g.volume} {MOUNT}")
    t.run(f"rm -f {MOUNT}/{FILE}")
    claim = records.volume(lab) if records.writing(lab) else None
    if claim is None:
        tl.figures["claim"] = "not held: the lab has no demo writer on a claim (no cluster, or no storage step)"
    since = tl.event("writers start")
    writer = Probe(lab, client, "file_writer", [f"{MOUNT}/{FILE}", "0.1", lifetime(lab, limits.gluster_heal_s + 60)],
                   REPORTS / "chaos" / "raw" / f"{tl.scenario}.jsonl").start()
    try:
        writer.wait_for(lambda s: sum(x["result"] == "ok" for x in s) >= 10, 20, "the writer appending before the fault")
        if claim:
            lab.wait_for("the claim's writer appending before the fault", lambda: records.acks_since(lab, since), 20, interval=0.5)
        fault = tl.event(f"poweroff {victim}")
        lab.poweroff(victim)
        gone = tl.event(f"{victim} gone")
        samples = writer.wait_for(lambda s: any(x["t"] > gone and x["result"] == "ok" for x in s), limits.gluster_ping_s + 30,
                                  "writes going on with one node down")
        resumed = next(x for x in samples if x["t"] > gone and x["result"] == "ok")
        record("STO-06 write stall with a node down", resumed["t"] + resumed["ms"] / 1000 - fault, budget["gluster_write_stall"])
        if claim:
            acked = lab.wait_for("the claim's writer going on with one node down", lambda: records.acks_after(lab, gone),
                                 limits.gluster_ping_s + 30, interval=0.5)
            record("STO-06 claim write stall with a node down", acked[0].t - fault, budget["gluster_write_stall"])
        # Down past the client's network.ping-timeout: writes acknowledged after it cannot be
        # waiting for the lost brick, and the heal has the whole span to make up.
        past = gone + g.ping_timeout_s
        writer.wait_for(lambda s: any(x["t"] > past and x["result"] == "ok" for x in s), g.ping_timeout_s + 30,
                        "writes going on past network.ping-timeout")
        if claim:
            lab.wait_for("the claim's writer going on past network.ping-timeout",
                         lambda: records.acks_after(lab, past), g.ping_timeout_s + 30, interval=0.5)
            # Stalled is allowed (up to the budget), refused is not: a write that failed with
            # one node down means the volume lost its write quorum (a brick that cannot reach
            # quotad counts as lost), whatever was acknowledged around it.
            seen = lab.wait_for("the claim's writer's log", lambda: records.samples_since(lab, fault), 30, interval=0.5)
            refused = records.refused(seen, fault)
            tl.figures["claim_refused_writes"] = len(refused)
            assert not refused, (f"STO-06: the claim refused {len(refused)} writes with {victim} down, from {refused[0]:.1f} s "
                                 f"to {refused[-1]:.1f} s after the fault: its volume lost write quorum")
        assert not lab.running(victim), f"{victim} is running again: the writes were not made with it down"
        read = t.run(f"tail -n 1 {MOUNT}/{FILE}")
        assert read.rc == 0 and read.stdout.strip(), "the volume is not readable with one node down"
        start = tl.event(f"start {victim}")
        lab.start(victim)
        lab.wait_for(f"{victim}'s brick back", lambda: heal_pending(lab, survivor, g.volume) is not None, limits.gluster_heal_s)
        lab.wait_for("self-heal to complete", lambda: healed(lab, survivor, g.volume), limits.gluster_heal_s, 0.5)
        done = tl.event("healed")
        record("STO-06 heal complete after the node returned", done - start, budget["gluster_heal"])
        tl.figures.update(heal_s=round(done - start, 3), ping_timeout_s=g.ping_timeout_s)
        if claim:
            lab.wait_for(f"self-heal of {claim} to complete", lambda: healed(lab, survivor, claim), limits.gluster_heal_s, 0.5)
            claim_done = tl.event(f"{claim} healed")
            record("STO-06 claim heal complete after the node returned", claim_done - start, budget["gluster_heal"])
            tl.figures.update(claim_heal_s=round(claim_done - start, 3))
    finally:
        writer.stop()
        tl.probes["writer"] = writer.samples()
        if claim:
            tl.probes["claim writer"] = records.samples_since(lab, since) or []
        if not lab.running(victim):
            lab.start(victim)
    acked = {x["seq"] for x in tl.probes["writer"] if x["result"] == "ok"}
    content = t.check_output(f"cat {MOUNT}/{FILE}").split()
    t.run(f"systemd-umount {MOUNT}; systemctl reset-failed")
    assert acked and acked <= {int(x) for x in content}, f"acknowledged records lost: {sorted(acked - set(map(int, content)))[:10]}"
    lab.wait_for("self-heal to complete", lambda: healed(lab, survivor, g.volume), limits.gluster_heal_s, 0.5)
    sums = {lab.run(n.name, ["sha256sum", f"{g.brick_dir}/{FILE}"]).stdout.split()[0] for n in plan.glusters}
    assert len(sums) == 1, "the bricks disagree after the heal"
    if claim:
        # every record the writer acknowledged over the scenario is on every brick of its claim
        acked_claim = records.acks_since(lab, since)
        assert acked_claim, "the claim's writer acknowledged nothing over the scenario"
        tl.figures["claim_records_acked"] = len(acked_claim)
        missing = records.lost(lab, claim, (a.record for a in acked_claim))
        assert not missing, f"acknowledged records missing from bricks of {claim}: {records.described(missing)}"
