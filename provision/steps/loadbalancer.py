"""The HAProxy pair: corosync membership, pacemaker, then the documents' crm configuration."""

from __future__ import annotations

from provision.facts import vip_holder
from provision.roles.loadbalancer import CRM_FILE
from provision.steps import must

CIB = "/var/lib/pacemaker/cib/cib.xml"


def seed_cib(p, host: str) -> None:
    """Before pacemaker's first start, load the crm configuration into its CIB offline, so
    the cluster starts with its properties (dc-deadtime) and resources already there."""
    if p.run(host, ["test", "-e", CIB]).ok:
        return
    script = (
        f"set -e; t=$(mktemp); cibadmin --empty > $t; CIB_file=$t crm configure load update {CRM_FILE} >/dev/null; "
        f"install -o hacluster -g haclient -m 0600 $t {CIB}; rm -f $t"
    )
    must(p.run(host, ["sh", "-c", script], timeout=120), f"{host}: seed the CIB")
    p.changed(f"{host}: seeded the CIB with the crm configuration")


def apply(p, secrets) -> None:
    lbs = p.plan.loadbalancers
    first = lbs[0].name
    seed_cib(p, first)
    for h in lbs:
        p.ensure_active(h.name, "corosync", "pacemaker")

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
