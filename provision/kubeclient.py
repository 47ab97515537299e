"""The official Kubernetes client, as the cluster's admin, through the VIP: the kubeconfig
is kubeadm's admin.conf from the first master, and the connection leaves from the admin host
through a tunnel (provision.tunnel), with the VIP as the TLS server name."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager

import urllib3
import yaml

from provision.tunnel import Tunnel

ADMIN_CONF = "/etc/kubernetes/admin.conf"
REQUEST_TIMEOUT_S = 15


class NoCluster(Exception):
    """The lab has no Kubernetes cluster (yet)."""


class NotThroughTheVip(Exception):
    """The cluster's admin.conf leads somewhere else than the VIP: K8S-02/K8S-04 broken, and
    every API check through the VIP would be checking another path."""


def check_server(kubeconfig: dict, plan) -> None:
    """The admin's kubeconfig names the VIP as its server, as the documents' kubeadm does."""
    want = f"https://{plan.vip.address}:{plan.vip.port}"
    server = kubeconfig["clusters"][0]["cluster"]["server"]
    if server != want:
        raise NotThroughTheVip(f"K8S-02: {ADMIN_CONF} points at {server}, not the VIP ({want}): the API tests through the VIP cannot run")


def admin_kubeconfig(lab) -> dict:
    res = lab.run(lab.plan.masters[0].name, ["cat", ADMIN_CONF], timeout=20)
    if not res.ok:
        raise NoCluster(f"no Kubernetes cluster in this lab: {lab.plan.masters[0].name} has no {ADMIN_CONF}")
    return yaml.safe_load(res.stdout)


def entry_host(lab) -> str:
    """Where clients enter the lab: the admin host in dmz, as the documents' jump host."""
    admins = lab.plan.by_role("admin")
    return admins[0].name if admins else lab.plan.masters[0].name


@contextmanager
def tunnel_to(lab, address: str, port: int) -> Iterator[Tunnel]:
    via = entry_host(lab)
    with Tunnel(lambda: lab.connect_argv(via, address, port)) as t:
        yield t


def anonymous_status(port: int, server_name: str, path: str, timeout: float = 10) -> int:
    """The HTTP status of an anonymous GET over a fresh TLS connection to 127.0.0.1:port
    (no credentials, no CA). Fresh, so HAProxy's roundrobin picks the next API server."""
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw, \
            ctx.wrap_socket(raw, server_hostname=server_name) as tls:
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {server_name}\r\nConnection: close\r\n\r\n".encode())
        return int(tls.recv(4096).split(b" ", 2)[1])


def unready_answers(port: int, server_name: str, servers: int) -> list[str]:
    """Ask /readyz through the VIP on three fresh connections per API server behind it (HAProxy
    deals them out in turn) and return what was not 200. With stacked etcd an API server
    whose member hangs accepts requests and holds them: this finds it in seconds."""
    bad = []
    for _ in range(3 * servers):
        try:
            status = anonymous_status(port, server_name, "/readyz", timeout=5)
        except (OSError, ValueError, IndexError) as exc:
            bad.append(f"{type(exc).__name__}: {exc}")
            continue
        if status != 200:
            bad.append(f"HTTP {status}")
    return bad


@contextmanager
def connect(lab) -> Iterator[object]:
    """A kubernetes.client.ApiClient; the tunnel lives as long as the context."""
    from kubernetes import config

    kubeconfig = admin_kubeconfig(lab)
    check_server(kubeconfig, lab.plan)
    vip = str(lab.plan.vip.address)
    with tunnel_to(lab, vip, lab.plan.vip.port) as t:
        cluster = kubeconfig["clusters"][0]["cluster"]
        cluster["server"] = f"https://127.0.0.1:{t.port}"
        # The certificate is checked against the VIP, as a client inside the lab would.
        cluster["tls-server-name"] = vip
        client = config.new_client_from_config_dict(kubeconfig)
        # Bounded: an API server whose etcd member is gone accepts a request and holds it
        # for a minute; no test may wait on one that long.
        client.rest_client.pool_manager.connection_pool_kw["timeout"] = urllib3.Timeout(connect=5, read=REQUEST_TIMEOUT_S)
        client.tunnel_port = t.port
        try:
            yield client
        finally:
            client.close()
