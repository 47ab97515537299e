"""The HAProxy pair: corosync membership, pacemaker, then the documents' crm configuration."""

from __future__ import annotations

from provision.providers.local.steps import must
from provision.roles.loadbalancer import CRM_FILE


def vip_holder(p) -> str | None:
    vip = str(p.plan.vip.address)
    for host in p.plan.loadbalancers:
        res = p.run(host.name, ["ip", "-4", "-o", "addr", "show", "dev", host.lab_nic.ifname], timeout=10)
        if res.ok and f" {vip}/" in res.stdout:
            return host.name
    return None


def apply(p, secrets) -> None:
    lbs = p.plan.loadbalancers
    for h in lbs:
        p.ensure_active(h.name, "corosync", "pacemaker")
    first = lbs[0].name

    def quorate() -> bool:
        res = p.run(first, ["corosync-quorumtool", "-s"], timeout=10)
        return res.ok and "Quorate:          Yes" in res.stdout and all(h.name in res.stdout for h in lbs)

    p.wait_for("corosync membership and quorum", quorate, 60)
    p.wait_for("a pacemaker DC", lambda: "Current DC: NONE" not in p.run(first, ["crm_mon", "-1"], timeout=10).stdout
               and p.run(first, ["crm_mon", "-1"], timeout=10).ok, 90, interval=0.5)
    existing = p.run(first, ["crm_resource", "--list-raw"], timeout=20).stdout.split()
    if p.plan.pacemaker.vip_resource not in existing:
        must(p.run(first, ["crm", "configure", "load", "update", CRM_FILE], timeout=120), f"{first}: crm configure")
        p.changed(f"{first}: loaded the crm configuration")
    p.wait_for("the VIP on one load balancer", lambda: vip_holder(p), 60)
    holder = vip_holder(p)
    p.wait_for(f"haproxy on {holder}", lambda: p.run(holder, ["systemctl", "is-active", "haproxy"], timeout=10).ok, 60)
