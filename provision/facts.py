"""What is asked of the lab's clusters, by chaos, talk mode and the self-tests: who holds what, is it whole again."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from provision import checks
from provision.errors import ProviderError
from provision.kubeclient import ADMIN_CONF
from provision.roles.master import etcd_endpoints
from provision.steps.etcd import etcdctl

__all__ = [
    "announcer",
    "backend_states",
    "etcd_healthy",
    "etcd_leader",
    "holds_vip",
    "is_ready",
    "kubernetes_settled",
    "kubernetes_shape",
    "kubernetes_whole",
    "lb_pair_clean",
    "node_macs",
    "node_ready",
    "vip_holder",
]

#: HAProxy's admin socket on the load balancers (haproxy.cfg's `stats socket`).
HAPROXY_ADMIN_SOCK = "/run/haproxy/admin.sock"
#: dnsmasq's lease file on the gateway (Debian's default).
DNSMASQ_LEASES = "/var/lib/misc/dnsmasq.leases"

#: Namespaces whose pods make the lab's Kubernetes whole.
LAB_NAMESPACES = ("kube-system", "kube-flannel", "metallb-system", "demo")
#: How long the cluster must stay whole, with no container restarted and every kubelet
#: renewing its lease (every 10 s), to be called settled: a kubelet that cannot reach the API
#: goes on showing the status it posted last for 40 s, and a container whose liveness probe
#: failed while the API hung is restarted only after its grace period.
SETTLE_S = 25.0


def holds_vip(lab, name: str) -> bool:
    """Whether this load balancer's lab NIC holds the VIP."""
    host = lab.plan.host(name)
    res = lab.run(name, ["ip", "-4", "-o", "addr", "show", "dev", host.lab_nic.ifname], timeout=10)
    return res.ok and checks.holds_address(res.stdout, str(lab.plan.vip.address))


def vip_holder(lab) -> str | None:
    """The load balancer whose lab NIC holds the VIP, or None."""
    return next((h.name for h in lab.plan.loadbalancers if holds_vip(lab, h.name)), None)


def backend_states(lab) -> dict[str, str]:
    """HAProxy's view of each master (UP, DOWN, "DOWN 1/2"...), from the VIP holder."""
    holder = vip_holder(lab)
    if holder is None:
        return {}
    res = lab.run(holder, ["sh", "-c", f"echo 'show stat' | nc -U {HAPROXY_ADMIN_SOCK}"], timeout=10)
    return checks.haproxy_servers(res.stdout, lab.plan.haproxy.backend) if res.ok else {}


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


def brick_running(lab, node: str, volume: str) -> bool:
    """The brick process of ``volume`` on ``node`` is alive, read from its pid file: asking
    glusterd (`volume status`) would take the pool's lock, which a claim being made waits for."""
    script = f'set -- /var/run/gluster/vols/{volume}/*.pid; [ -e "$1" ] && kill -0 "$(cat "$1")"'
    return lab.run(node, ["sh", "-c", script], timeout=5).ok


def has_kubernetes(lab) -> bool:
    return lab.run(lab.plan.masters[0].name, ["test", "-f", ADMIN_CONF], timeout=15).ok


def kubectl_json(lab, *args: str) -> dict | None:
    """kubectl as the admin on the first master that answers (one may be down)."""
    for m in lab.plan.masters:
        res = lab.run(m.name, ["kubectl", f"--kubeconfig={ADMIN_CONF}", *args, "-o", "json"], timeout=20)
        if res.ok:
            return json.loads(res.stdout)
    return None


@dataclass(frozen=True)
class Shape:
    """The lab's containers (pod UID, container, restart count) and when they were seen
    (time.monotonic()). Pods replaced or containers restarted change it; nothing else does."""
    containers: tuple[tuple[str, str, int], ...]
    at: float


def _containers(pods: dict) -> tuple[tuple[str, str, int], ...]:
    return tuple(sorted((p["metadata"]["uid"], c["name"], c.get("restartCount", 0)) for p in pods["items"]
                        if p["metadata"]["namespace"] in LAB_NAMESPACES for c in p["status"].get("containerStatuses", [])))


def kubernetes_shape(lab) -> Shape | None:
    """The lab's containers now, or None if the API does not answer."""
    pods = kubectl_json(lab, "get", "pods", "-A")
    return None if pods is None else Shape(_containers(pods), time.monotonic())


def kubernetes_settled(lab, timeout: float, restarted: Mapping[str, float] | None = None, window: float = SETTLE_S,
                       unchanged_since: Shape | None = None) -> None:
    """Wait until the cluster is whole and stays so for ``window`` s: the same pods with the
    same restart counts, and every node's lease renewed within the window.

    ``unchanged_since``: the containers as seen before a fault. Found the same again, no pod
    was replaced and no container restarted since then, so they have been stable that long,
    and what is left to see is every kubelet renewing its lease while the cluster is whole."""
    seen: dict[str, object] = {}

    def settled() -> bool:
        if not kubernetes_whole(lab, restarted):
            seen.clear()
            return False
        pods = kubectl_json(lab, "get", "pods", "-A")
        leases = kubectl_json(lab, "-n", "kube-node-lease", "get", "leases")
        if pods is None or leases is None:
            seen.clear()
            return False
        shape = _containers(pods)
        renewed = {item["metadata"]["name"]: item["spec"].get("renewTime") for item in leases["items"]}
        if seen.get("shape") != shape:
            stable = unchanged_since is not None and unchanged_since.containers == shape
            seen.update(shape=shape, since=unchanged_since.at if stable else time.monotonic(), leases=renewed)
            return False
        nodes = {h.name for h in (*lab.plan.masters, *lab.plan.workers)}
        first = seen["leases"]
        return time.monotonic() - seen["since"] >= window and all(renewed.get(n) not in (None, first.get(n)) for n in nodes)

    try:
        lab.wait_for(f"the Kubernetes cluster whole and settled for {window:.0f} s", settled, timeout + window, interval=2)
    except ProviderError as e:
        # what is not whole, by name (libvirt smoke run 20 said only "timed out")
        held = kubernetes_not_whole(lab) or ["whole now: within the window a pod was replaced, a container restarted "
                                             "or a node's lease was not renewed"]
        raise ProviderError("\n".join([str(e), *held])) from None


def kubernetes_not_whole(lab) -> list[str]:
    """What keeps the cluster from being whole (kubernetes_whole): each node not Ready, each
    pod of the lab's namespaces not ready, with what holds it."""
    from provision.steps.addons import pods_not_ready

    nodes, pods = kubectl_json(lab, "get", "nodes"), kubectl_json(lab, "get", "pods", "-A")
    if nodes is None or pods is None:
        return ["the API did not answer"]
    out = [f"node {n['metadata']['name']} not Ready" for n in nodes["items"] if not is_ready(n)]
    for pod in pods["items"]:
        if pod["metadata"]["namespace"] in LAB_NAMESPACES and not _pod_ready(pod):
            out += [f"{pod['metadata']['namespace']}/{line}" for line in pods_not_ready({"items": [pod]})]
    return out


def _pod_ready(pod: dict) -> bool:
    statuses = pod["status"].get("containerStatuses", [])
    return pod["status"].get("phase") == "Running" and bool(statuses) and all(c["ready"] for c in statuses)


def kubernetes_whole(lab, restarted: Mapping[str, float] | None = None) -> bool:
    """Every node Ready, every pod of kube-system, flannel, MetalLB and the demo application
    running and ready. ``restarted``: node -> when it went down (epoch s); the containers of
    its pods must have started since, so a status the node posted before it died is not
    taken for the truth."""
    restarted = restarted or {}
    nodes, pods = kubectl_json(lab, "get", "nodes"), kubectl_json(lab, "get", "pods", "-A")
    if nodes is None or pods is None:
        return False
    if not all(is_ready(n) for n in nodes["items"]):
        return False
    for p in pods["items"]:
        if p["metadata"]["namespace"] not in LAB_NAMESPACES:
            continue
        if not _pod_ready(p):
            return False
        statuses = p["status"]["containerStatuses"]
        down = restarted.get(p["spec"].get("nodeName", ""))
        if down is not None and not all(_started_after(c, down) for c in statuses):
            return False
    return True


def _started_after(status: dict, when: float) -> bool:
    started = status.get("state", {}).get("running", {}).get("startedAt")
    # second resolution in the API: a container started in the same second counts as after
    return started is not None and datetime.fromisoformat(started.replace("Z", "+00:00")).timestamp() >= int(when)


def node_macs(lab) -> dict[str, str]:
    """The lab NIC's MAC address of every Kubernetes node."""
    out = {}
    for h in (*lab.plan.masters, *lab.plan.workers):
        res = lab.run(h.name, ["cat", f"/sys/class/net/{h.lab_nic.ifname}/address"], timeout=10)
        if res.ok:
            out[res.stdout.strip()] = h.name
    return out


def announcer(lab, ip: str, macs: dict[str, str]) -> str | None:
    """The node that answers ARP for ``ip``, as the gateway on the node subnet sees it: the
    data plane's word (MetalLB's own ServiceL2Status can lag behind a dead node)."""
    res = lab.run(lab.plan.gateway.name, ["ip", "-4", "neigh", "show", ip], timeout=10)
    for line in res.stdout.splitlines():
        parts = line.split()
        if "lladdr" in parts and parts[-1] not in ("FAILED", "INCOMPLETE"):
            return macs.get(parts[parts.index("lladdr") + 1])
    return None


def node_ready(lab, name: str) -> bool | None:
    """Whether Kubernetes calls the node Ready; None when the API does not answer."""
    node = kubectl_json(lab, "get", "node", name)
    if node is None:
        return None
    return is_ready(node)


def is_ready(node: dict) -> bool:
    """A node object (the API's JSON) whose Ready condition is True."""
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", []))
