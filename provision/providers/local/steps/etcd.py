"""etcd: one member per master over TLS (client and peer), certificates from our CA."""

from __future__ import annotations

from provision.providers.local import pki
from provision.providers.local.steps import must
from provision.roles.master import ETCD_PKI, etcd_endpoints

#: Where the admin host keeps its client certificate (probes, chaos, conformance).
CLIENT_DIR = "/etc/underhood/etcd"


def etcdctl(p, host: str, *args: str, timeout: float = 15):
    """etcdctl on ``host`` with the lab's client certificate, against every member."""
    d = ETCD_PKI if p.plan.host(host).role == "master" else CLIENT_DIR
    cert = "healthcheck-client" if d == ETCD_PKI else "client"
    argv = ["env", "ETCDCTL_API=3", "etcdctl", f"--endpoints={','.join(etcd_endpoints(p.plan))}", f"--cacert={d}/ca.crt",
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
    ca = (d / "ca.crt").read_text()
    for m in plan.masters:
        c = p.container(m)
        c.write(f"{ETCD_PKI}/ca.crt", ca)
        for kind in ("server", "peer"):
            c.write(f"{ETCD_PKI}/{kind}.crt", (d / f"{m.name}-{kind}.crt").read_text())
            c.write(f"{ETCD_PKI}/{kind}.key", (d / f"{m.name}-{kind}.key").read_text(), mode="0600")
        c.write(f"{ETCD_PKI}/healthcheck-client.crt", (d / "healthcheck-client.crt").read_text())
        c.write(f"{ETCD_PKI}/healthcheck-client.key", (d / "healthcheck-client.key").read_text(), mode="0600")
        must(c.run(["chown", "etcd:etcd", f"{ETCD_PKI}/server.key", f"{ETCD_PKI}/peer.key"]), f"{m.name}: chown keys")
    for admin in plan.by_role("admin"):
        c = p.container(admin)
        c.write(f"{CLIENT_DIR}/ca.crt", ca)
        c.write(f"{CLIENT_DIR}/client.crt", (d / "client.crt").read_text())
        c.write(f"{CLIENT_DIR}/client.key", (d / "client.key").read_text(), mode="0600")
    for m in plan.masters:
        must(p.run(m.name, ["systemctl", "enable", "etcd"]), f"{m.name}: enable etcd")
        # --no-block: the first member waits for its peers before it reports ready.
        must(p.run(m.name, ["systemctl", "start", "--no-block", "etcd"]), f"{m.name}: start etcd")
    first = plan.masters[0].name
    p.wait_for("a healthy etcd cluster", lambda: etcdctl(p, first, "endpoint", "health").ok, 60, interval=0.5)
