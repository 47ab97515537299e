"""What the chaos scenarios ask of the lab's clusters: who holds what, is it whole again."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import datetime

from provision.kubeclient import ADMIN_CONF
from provision.providers.local.steps.etcd import etcdctl
from provision.providers.local.steps.loadbalancer import vip_holder
from provision.roles.master import etcd_endpoints

__all__ = ["etcd_healthy", "etcd_leader", "kubernetes_whole", "lb_pair_clean", "vip_holder"]



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


def kubectl_json(lab, *args: str) -> dict | None:
    """kubectl as the admin on the first master that answers (one may be down)."""
    for m in lab.plan.masters:
        res = lab.run(m.name, ["kubectl", f"--kubeconfig={ADMIN_CONF}", *args, "-o", "json"], timeout=20)
        if res.ok:
            return json.loads(res.stdout)
    return None


def kubernetes_whole(lab, restarted: Mapping[str, float] | None = None) -> bool:
    """Every node Ready, every pod of kube-system, flannel, MetalLB and the demo application
    running and ready. ``restarted``: node -> when it went down (epoch s); the containers of
    its pods must have started since, so a status the node posted before it died is not
    taken for the truth."""
    restarted = restarted or {}
    nodes, pods = kubectl_json(lab, "get", "nodes"), kubectl_json(lab, "get", "pods", "-A")
    if nodes is None or pods is None:
        return False
    for n in nodes["items"]:
        if not any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", [])):
            return False
    for p in pods["items"]:
        if p["metadata"]["namespace"] not in ("kube-system", "kube-flannel", "metallb-system", "demo"):
            continue
        statuses = p["status"].get("containerStatuses", [])
        if p["status"].get("phase") != "Running" or not statuses or not all(c["ready"] for c in statuses):
            return False
        down = restarted.get(p["spec"].get("nodeName", ""))
        if down is not None and not all(_started_after(c, down) for c in statuses):
            return False
    return True


def _started_after(status: dict, when: float) -> bool:
    started = status.get("state", {}).get("running", {}).get("startedAt")
    # second resolution in the API: a container started in the same second counts as after
    return started is not None and datetime.fromisoformat(started.replace("Z", "+00:00")).timestamp() >= int(when)
