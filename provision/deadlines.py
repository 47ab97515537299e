"""Every deadline of the chaos suite, derived from the plan's settings in one place.

A deadline only bounds a wait; the measured times are reported, never asserted."""

from __future__ import annotations

from dataclasses import dataclass

from provision.topology import Plan

#: Added to every prediction: scheduling on a 2-core machine, process start-up.
MARGIN_S = 20.0


@dataclass(frozen=True)
class Deadlines:
    vip_floor_s: float  # corosync token + consensus: the shortest possible VIP failover
    vip_failover_s: float
    haproxy_restart_s: float
    etcd_election_s: float
    etcd_quorum_s: float
    gluster_ping_s: float
    gluster_heal_s: float
    node_rejoin_s: float
    kubernetes_whole_s: float
    haproxy_mark_down_s: float
    master_return_s: float
    metallb_takeover_s: float
    worker_eviction_s: float


def deadlines(plan: Plan) -> Deadlines:
    c = plan.corosync
    floor = (c.token + c.consensus) / 1000
    monitor = plan.pacemaker.monitor_interval_s
    return Deadlines(
        vip_floor_s=floor,
        vip_failover_s=floor * 3 + MARGIN_S,
        haproxy_restart_s=monitor * 2 + MARGIN_S,
        # etcd's defaults: election timeout 1 s, heartbeat 100 ms
        etcd_election_s=1.0 * 5 + MARGIN_S,
        # Members are kubelet's static pods: a node that starts runs containerd and
        # kubelet before its member (measured here: about 10-20 s).
        etcd_quorum_s=10 + 30 + MARGIN_S,
        gluster_ping_s=plan.gluster.ping_timeout_s,
        gluster_heal_s=plan.gluster.ping_timeout_s * 3 + MARGIN_S * 3,
        node_rejoin_s=plan.pacemaker.dc_deadtime_s + floor * 2 + MARGIN_S * 2,
        # kubelet's node-monitor grace (40 s by default) for a node to turn Ready again,
        # then its pods restarting.
        kubernetes_whole_s=40 + 60 + MARGIN_S * 2,
        # fall checks, each up to HAProxy's default inter (2 s) plus the connect timeout.
        haproxy_mark_down_s=plan.haproxy.fall * (2 + 4) + MARGIN_S,
        # The node boots, kubelet starts the API server's static pod, then rise checks.
        master_return_s=60 + plan.haproxy.rise * 2 + MARGIN_S * 2,
        # memberlist marks a dead speaker within seconds; the announcement then moves.
        metallb_takeover_s=10 + MARGIN_S,
        # node-monitor grace (40 s), then the demo pods' 10 s tolerationSeconds, then a start.
        worker_eviction_s=40 + 10 + 30 + MARGIN_S * 2,
    )
