"""etcd: one member per master over TLS (client and peer), certificates from our CA."""

from __future__ import annotations

from provision.providers.local import pki
from provision.providers.local.steps import must
from provision.roles.master import ETCD_PKI, etcd_endpoints

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


def apply(p) -> None:
    plan = p.plan
    d = p.state / "pki" / "etcd"
    pki.ensure_ca(d)
    for m in plan.masters:
        sans = [f"IP:{m.lab_nic.address}", "IP:127.0.0.1", f"DNS:{m.name}", f"DNS:{plan.fqdn(m)}", "DNS:localhost"]
        pki.ensure_cert(d, f"{m.name}-server", m.name, sans, "serverAuth,clientAuth")
        pki.ensure_cert(d, f"{m.name}-peer", m.name, sans, "serverAuth,clientAuth")
    pki.ensure_cert(d, "healthcheck-client", "kube-etcd-healthcheck-client", [], "clientAuth")
    pki.ensure_cert(d, "client", "underhood-client", [], "clientAuth")
    def put(host, path: str, source: str, mode: str = "0644") -> None:
        if p.container(host).write(path, (d / source).read_text(), mode):
            p.changed(f"{host.name}: wrote {path}")

    for m in plan.masters:
        put(m, f"{ETCD_PKI}/ca.crt", "ca.crt")
        for kind in ("server", "peer"):
            put(m, f"{ETCD_PKI}/{kind}.crt", f"{m.name}-{kind}.crt")
            put(m, f"{ETCD_PKI}/{kind}.key", f"{m.name}-{kind}.key", "0600")
        put(m, f"{ETCD_PKI}/healthcheck-client.crt", "healthcheck-client.crt")
        put(m, f"{ETCD_PKI}/healthcheck-client.key", "healthcheck-client.key", "0600")
        must(p.run(m.name, ["chown", "etcd:etcd", f"{ETCD_PKI}/server.key", f"{ETCD_PKI}/peer.key"]), f"{m.name}: chown keys")
    for admin in plan.by_role("admin"):
        put(admin, f"{CLIENT_DIR}/ca.crt", "ca.crt")
        put(admin, f"{CLIENT_DIR}/client.crt", "client.crt")
        put(admin, f"{CLIENT_DIR}/client.key", "client.key", "0600")
    for m in plan.masters:
        if p.run(m.name, ["systemctl", "is-active", "--quiet", "etcd"]).ok:
            continue
        must(p.run(m.name, ["systemctl", "enable", "etcd"]), f"{m.name}: enable etcd")
        # --no-block: the first member waits for its peers before it reports ready.
        must(p.run(m.name, ["systemctl", "start", "--no-block", "etcd"]), f"{m.name}: start etcd")
        p.changed(f"{m.name}: started etcd")
    first = plan.masters[0].name
    p.wait_for("a healthy etcd cluster", lambda: etcdctl(p, first, "endpoint", "health").ok, 60, interval=0.5)
