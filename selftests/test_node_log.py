"""chaos/node_log.py: a failover's steps read from the journal of the node that took over,
placed on this machine's clock. The lines are a real local lab's (LB-06, 2026-12-06)."""

from __future__ import annotations

import json
import time

import pytest

from chaos import node_log
from provision import topology
from provision.providers.base import Result

PLAN = topology.load()
VIP, HAPROXY = PLAN.pacemaker.vip_resource, PLAN.pacemaker.haproxy_resource
TAKER = PLAN.loadbalancers[1].name
MARKS = node_log.failover_marks(VIP)
#: (node time, message) as the surviving load balancer's journal had them, and lines that
#: must not be taken for a step
FAILOVER = [
    (1000.0, "[TOTEM ] Token has not been received in 2250 ms"),
    (1000.8, "[TOTEM ] A processor failed, forming new configuration: token timed out (3000ms), waiting 3600ms for consensus."),
    (1004.4, "[TOTEM ] A new membership (2.d) was formed. Members left: 1"),
    (1005.4, f"Result of start operation for {VIP}-2 on {TAKER}: ok"),  # another resource
    (1005.45, f"Result of start operation for {VIP} on {TAKER}: error"),  # a start that failed
    (1005.5, f"Result of start operation for {VIP} on {TAKER}: ok"),
    (1005.65, "Starting haproxy.service - Cluster Controlled haproxy..."),
    (1005.7, "Started haproxy.service - Cluster Controlled haproxy."),
    (1005.72, f"Connect from {PLAN.masters[0].lab_nic.address}:58350 to {PLAN.vip.address}:{PLAN.vip.port} (kubernetes-apiserver-https/TCP)"),
    (1007.7, f"Result of start operation for {HAPROXY} on {TAKER}: ok"),
    (1008.7, "[TOTEM ] A new membership (1.12) was formed. Members joined: 1"),  # the dead node back
]


class Node:
    """A node whose clock runs `skew` seconds ahead of this machine's."""

    def __init__(self, lines: list[tuple[float, str | list[int]]], skew: float) -> None:
        self.lines, self.skew, self.argv = lines, skew, []

    def run(self, host: str, argv: list[str], timeout: float = 60) -> Result:
        self.argv.append(argv)
        if argv[0] == "date":
            return Result(0, f"{time.time() + self.skew:.6f}\n", "")
        out = "".join(json.dumps({"__REALTIME_TIMESTAMP": str(int(t * 1e6)), "MESSAGE": m}) + "\n" for t, m in self.lines)
        return Result(0, out, "")


def test_each_step_is_its_first_line_and_lands_on_this_machines_clock():
    seen = node_log.first_seen(FAILOVER, MARKS, node_log.Offset(-50.0, 0.01))
    assert [(s.label, s.node_t) for s in seen] == [
        ("corosync: token lost", 1000.8), ("corosync: membership without it", 1004.4), ("pacemaker: VIP started", 1005.5),
        ("systemd: haproxy started", 1005.7), ("haproxy: first connection", 1005.72)]
    assert [round(s.t, 2) for s in seen] == [950.8, 954.4, 955.5, 955.7, 955.72]


def test_a_step_the_journal_lacks_is_left_out_not_invented():
    seen = node_log.first_seen([line for line in FAILOVER if not line[1].startswith("Started")], MARKS, node_log.Offset(0, 0))
    assert "systemd: haproxy started" not in {s.label for s in seen}
    assert len(seen) == 4


def test_steps_between_marks_use_the_nodes_clock():
    seen = node_log.first_seen(FAILOVER, MARKS, node_log.Offset(-50.0, 0.01))
    steps = node_log.steps(seen, 948.0, ("first answer", 955.8))
    assert [label for label, _ in steps] == [m.label for m in MARKS] + ["first answer"]
    assert [round(s, 2) for _, s in steps] == [2.8, 3.6, 1.1, 0.2, 0.02, 0.08]


def test_the_journal_is_read_from_the_fault_on_the_nodes_clock():
    node = Node([(t + 100, m) for t, m in FAILOVER] + [(1200.0, [0x41, 0xff])], skew=100.0)
    seen, offset = node_log.events_since(node, TAKER, 900.0, MARKS)
    assert offset.seconds == pytest.approx(-100.0, abs=0.5)
    journalctl = node.argv[-1]
    since = float(next(a for a in journalctl if a.startswith("--since=@")).removeprefix("--since=@"))
    assert since == pytest.approx(1000.0, abs=0.5)
    assert {"corosync", "pacemaker", "haproxy"} == {journalctl[i + 1] for i, a in enumerate(journalctl) if a == "-u"}
    assert [s.t for s in seen] == pytest.approx([1000.8, 1004.4, 1005.5, 1005.7, 1005.72], abs=0.5)
    # a message that is not UTF-8 comes as bytes and is read, not a crash
    assert node_log.journal(node, TAKER, {"corosync"}, 0)[-1][1] == "A\ufffd"


def test_a_journal_that_cannot_be_read_is_said_not_a_crash():
    class Silent(Node):
        def run(self, host, argv, timeout=60):
            return Result(1, "", "Permission denied") if argv[0] == "journalctl" else super().run(host, argv, timeout)

    with pytest.raises(node_log.NodeLogError, match=f"{TAKER}: journalctl failed: Permission denied"):
        node_log.events_since(Silent(FAILOVER, 0.0), TAKER, 900.0, MARKS)
