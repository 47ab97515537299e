"""Every deadline and budget of the chaos suite, derived from the plan's settings in one place.

A deadline bounds a wait: past it, the scenario stops with "timed out". A budget judges a
measured recovery: the plan's own settings predict it, a margin covers this 2-core machine,
and a figure over its budget fails the scenario's promise. Budgets are tighter than
deadlines, so a slow recovery is measured and reported as over budget, not cut off."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

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
    gateway_return_s: float


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
        # The gateway boots (10 s, as every host) with its rules and dnsmasq.
        gateway_return_s=10 + 10 + MARGIN_S * 2,
    )


#: Added to every budget's prediction: scheduling on 2 cores, a probe's own period.
BUDGET_MARGIN_S = 10.0


@dataclass(frozen=True)
class Budget:
    key: str
    seconds: float
    why: str  # the prediction, with the plan's values, as the report shows it


def _seconds(value: str) -> float:
    """HAProxy's `4s`, `500ms`, `1m`."""
    for unit, factor in (("ms", 0.001), ("s", 1.0), ("m", 60.0)):
        if value.endswith(unit):
            return float(value[: -len(unit)]) * factor
    return float(value) / 1000  # HAProxy's unit-less timeouts are milliseconds


def budgets(plan: Plan, overrides: Mapping[str, float] | None = None, slowdown: float = 1.0) -> dict[str, Budget]:
    """Each measured recovery's budget, by key; ``overrides`` (key -> seconds, the user's
    --budget) replace the prediction. ``slowdown``: how many times slower than hardware the
    hosts run (the provider's, from the plan's ``vagrant.slowdown``). It scales the margin,
    which is the work the hosts do (a VIP's and haproxy's start took 1.3 s on the local lab
    and about 17 s on VMs five times slower, smoke run 22); the settings' timers are wall-clock
    and stay as they are."""
    c, h, g = plan.corosync, plan.haproxy, plan.gluster
    token, consensus = c.token / 1000, c.consensus / 1000
    inter, connect = 2.0, _seconds(h.timeout_connect)  # HAProxy's default check inter
    monitor = plan.pacemaker.monitor_interval_s
    m = BUDGET_MARGIN_S * slowdown
    found = [
        Budget("vip_gap", token + consensus + m,
               f"corosync token {token:g} s + consensus {consensus:g} s, then the VIP and haproxy start; + {m:g} s"),
        Budget("haproxy_restart", monitor + m, f"pacemaker's monitor interval {monitor} s finds it dead; + {m:g} s"),
        Budget("etcd_leader", 1.0 * 5 + m, f"etcd's election timeout 1 s x 5 (randomised rounds); + {m:g} s"),
        Budget("etcd_writes_after_leader_loss", 1.0 * 5 + m, f"a new leader (election timeout 1 s x 5), then the client's retry; + {m:g} s"),
        Budget("etcd_writes_after_quorum", 10 + 30 + m, f"two masters boot and start kubelet (10 s) and their members (30 s); + {m:g} s"),
        Budget("etcd_catch_up", 1.0 * 5 + m, f"the healed member hears the leader's heartbeat and the missed entries; + {m:g} s"),
        Budget("gluster_write_stall", g.ping_timeout_s + m, f"the FUSE client waits network.ping-timeout {g.ping_timeout_s} s; + {m:g} s"),
        Budget("gluster_heal", 2 * g.ping_timeout_s + 30 + m,
               f"the node boots and its brick reconnects (2 x ping-timeout {g.ping_timeout_s} s), the heal of a few files (30 s); + {m:g} s"),
        Budget("haproxy_mark_down", h.fall * (inter + connect) + m,
               f"fall {h.fall} x (check inter {inter:g} s + connect timeout {connect:g} s); + {m:g} s"),
        Budget("haproxy_take_back", 60 + h.rise * inter + m, f"the master boots with its API server (60 s), then rise {h.rise} x inter {inter:g} s; + {m:g} s"),
        Budget("gateway_back", 10 + m,
               f"the gateway boots (10 s) and loads its rules before its network; the hosts keep their leases; + {m:g} s"),
        Budget("metallb_takeover", 10 + m, f"memberlist declares the speaker dead (10 s); + {m:g} s"),
        # The controller counts the grace from the last lease renewal it read: up to one
        # renewal interval (10 s) and one monitor period (5 s) later than the fault.
        Budget("node_not_ready", 40 + 10 + 5 + m,
               f"node-monitor grace period 40 s + a lease renewal interval 10 s + node-monitor period 5 s; + {m:g} s"),
        Budget("pods_rescheduled", 40 + 10 + 5 + 10 + 30 + m,
               f"NotReady (40 + 10 + 5 s), the demo pods' tolerationSeconds 10 s, a start (30 s); + {m:g} s"),
    ]
    if slowdown != 1.0:
        found = [replace(b, why=f"{b.why} ({BUDGET_MARGIN_S:g} s x {slowdown:g}: hosts {slowdown:g} times slower than hardware)")
                 for b in found]
    out = {b.key: b for b in found}
    for key, seconds in (overrides or {}).items():
        if key not in out:
            raise ValueError(f"--budget {key}=...: no such budget; use one of {', '.join(out)}")
        out[key] = replace(out[key], seconds=float(seconds), why=f"set by --budget {key}={seconds:g} (the plan predicts {out[key].seconds:g} s)")
    return out
