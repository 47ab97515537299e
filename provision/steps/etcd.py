"""etcd: one member per master, stacked as the documents have it (kubeadm's static pods),
over TLS for clients and peers, from a CA of ours."""

from __future__ import annotations

import json

from provision import pki
from provision.roles.master import ETCD_PKI, etcd_endpoints
from provision.steps.cluster import initialised

#: Where the admin host keeps its client certificate (probes, chaos, conformance).
CLIENT_DIR = "/etc/underhood/etcd"


def etcdctl(p, host: str, *args: str, timeout: float = 15, endpoints: list[str] | None = None):
    """etcdctl on ``host`` with the lab's client certificate, against every member (or the
    given endpoints)."""
    d = ETCD_PKI if p.plan.host(host).role == "master" else CLIENT_DIR
    cert = "healthcheck-client" if d == ETCD_PKI else "client"
    endpoints = endpoints or etcd_endpoints(p.plan)
    argv = ["env", "ETCDCTL_API=3", "etcdctl", f"--endpoints={','.join(endpoints)}", f"--cacert={d}/ca.crt",
            f"--cert={d}/{cert}.crt", f"--key={d}/{cert}.key", "--dial-timeout=2s", "--command-timeout=5s", *args]
    return p.run(host, argv, timeout=timeout)


def seed(p) -> None:
    """etcd's CA on the first master before `kubeadm init`, which then issues the members'
    certificates from it (and shares it with the other masters through --upload-certs), and
    the admin host's client certificate from the same CA."""
    plan = p.plan
    d = p.state / "pki" / "etcd"
    pki.ensure_ca(d)
    pki.ensure_cert(d, "client", "underhood-client", [], "clientAuth")

    def put(host, path: str, source: str, mode: str = "0644") -> None:
        if p.write(host.name, path, (d / source).read_text(), mode):
            p.changed(f"{host.name}: wrote {path}")

    first = plan.masters[0]
    if not initialised(p):
        put(first, f"{ETCD_PKI}/ca.crt", "ca.crt")
        put(first, f"{ETCD_PKI}/ca.key", "ca.key", "0600")
    for admin in plan.by_role("admin"):
        put(admin, f"{CLIENT_DIR}/ca.crt", "ca.crt")
        put(admin, f"{CLIENT_DIR}/client.crt", "client.crt")
        put(admin, f"{CLIENT_DIR}/client.key", "client.key", "0600")


def healthy(p) -> bool:
    """Every endpoint healthy, and one member per master."""
    first = p.plan.masters[0].name
    if not etcdctl(p, first, "endpoint", "health").ok:
        return False
    res = etcdctl(p, first, "member", "list", "-w", "json")
    return res.ok and len(json.loads(res.stdout).get("members", [])) == len(p.plan.masters)


def wait_healthy(p) -> None:
    p.wait_for("a healthy etcd cluster, a member per master", lambda: healthy(p), 120, interval=1)
