"""What the chaos scenarios ask of the lab's clusters: who holds what, is it whole again."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from provision.providers.local.steps.etcd import etcdctl
from provision.providers.local.steps.loadbalancer import vip_holder
from provision.roles.master import etcd_endpoints

__all__ = ["etcd_healthy", "etcd_leader", "kubernetes_whole", "lb_pair_clean", "vip_holder"]

ADMIN_CONF = "/etc/kubernetes/admin.conf"


def lb_pair_clean(lab) -> bool:
    """Both load-balancer nodes online in pacemaker, corosync quorate with both, the VIP up."""
    plan = lab.plan
    names = {h.name for h in plan.loadbalancers}
    for h in plan.loadbalancers:
        res = lab.run(h.name, ["crm_mon", "-1", "--output-as=xml"], timeout=15)
        if not res.ok:
            return False
        root = ET.fromstring(res.stdout)
        online = {n.get("name") for n in root.iter("node") if n.get("online") == "true" and n.get("unclean") == "false"}
        if online != names:
            return False
    return vip_holder(lab) is not None


def etcd_status(lab, via: str) -> list[dict]:
    res = etcdctl(lab, via, "endpoint", "status", "-w", "json")
    try:
        return json.loads(res.stdout) if res.stdout.strip() else []
    except json.JSONDecodeError:
        return []


def etcd_leader(lab, via: str) -> str | None:
    """The name of the master whose member is the raft leader, as the live members see it."""
    endpoints = dict(zip(etcd_endpoints(lab.plan), (m.name for m in lab.plan.masters), strict=True))
    for s in etcd_status(lab, via):
        if s["Status"]["leader"] == s["Status"]["header"]["member_id"]:
            return endpoints.get(s["Endpoint"])
    return None


def etcd_healthy(lab, via: str) -> bool:
    return etcdctl(lab, via, "endpoint", "health").ok


def has_kubernetes(lab) -> bool:
    return lab.run(lab.plan.masters[0].name, ["test", "-f", ADMIN_CONF], timeout=15).ok


def kubernetes_whole(lab) -> bool:
    """Every node Ready, every pod of kube-system and the demo application running and ready,
    asked of any master that answers (the first may be the one that is down)."""
    for m in lab.plan.masters:
        nodes = lab.run(m.name, ["kubectl", f"--kubeconfig={ADMIN_CONF}", "get", "nodes", "-o", "json"], timeout=20)
        pods = lab.run(m.name, ["kubectl", f"--kubeconfig={ADMIN_CONF}", "get", "pods", "-A", "-o", "json"], timeout=20)
        if nodes.ok and pods.ok:
            break
    else:
        return False
    for n in json.loads(nodes.stdout)["items"]:
        if not any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", [])):
            return False
    for p in json.loads(pods.stdout)["items"]:
        if p["metadata"]["namespace"] not in ("kube-system", "kube-flannel", "demo"):
            continue
        statuses = p["status"].get("containerStatuses", [])
        if p["status"].get("phase") != "Running" or not statuses or not all(c["ready"] for c in statuses):
            return False
    return True
