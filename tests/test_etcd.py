"""ETCD-01 and SEC-05 at host level: three members over TLS, one leader, no anonymous client."""

from __future__ import annotations

import json

import pytest

from provision import checks
from provision.pytest_plugin import admin_host
from provision.roles.master import etcd_endpoints
from provision.steps.etcd import CLIENT_DIR, etcdctl


@pytest.mark.promise("ETCD-01")
def test_three_healthy_members_one_leader(plan, host, lab):
    first = plan.masters[0].name
    members = json.loads(etcdctl(lab, first, "member", "list", "-w", "json").stdout)["members"]
    assert sorted(m["name"] for m in members) == sorted(m.name for m in plan.masters)
    for m in members:
        assert all(u.startswith("https://") for u in m["peerURLs"] + m["clientURLs"])
    health = etcdctl(lab, first, "endpoint", "health", "-w", "json")
    assert health.ok, health.stderr
    assert all(e["health"] for e in json.loads(health.stdout))
    problems = checks.etcd_cluster(etcdctl(lab, first, "endpoint", "status", "-w", "json").stdout, len(plan.masters))
    assert not problems, "; ".join(problems)


@pytest.mark.promise("ETCD-01")
def test_admin_host_reads_and_writes_through_tls(plan, lab):
    admin = admin_host(plan).name
    assert etcdctl(lab, admin, "put", "/underhood/conformance", "ok").ok
    got = etcdctl(lab, admin, "get", "/underhood/conformance", "--print-value-only")
    assert got.stdout.strip() == "ok"
    assert etcdctl(lab, admin, "del", "/underhood/conformance").ok


#: TLS 1.2 refuses a missing client certificate inside the handshake (an alert curl always
#: reads); under 1.3 the alert comes after it, and etcd's hang-up often beats curl to it.
TLS12 = "--tls-max 1.2"


@pytest.mark.promise("SEC-05")
def test_client_and_peer_ports_refuse_clients_without_a_certificate(plan, host, lab):
    admin = host(admin_host(plan).name)
    ca = f"{CLIENT_DIR}/ca.crt"
    with_cert = f"--cert {CLIENT_DIR}/client.crt --key {CLIENT_DIR}/client.key"
    problems = []
    for url in etcd_endpoints(plan):
        peer = url.replace(f":{plan.etcd.client_port}", f":{plan.etcd.peer_port}")
        # Positive control, per member: with the certificate the client port answers; without
        # it, both ports must refuse in TLS (an alert only a listening etcd sends), never by
        # being closed or out of reach.
        answered = admin.run(f"curl -sS {TLS12} --max-time 5 --cacert {ca} {with_cert} {url}/health")
        if '"health":"true"' not in answered.stdout:
            problems.append(f"{url} does not answer a client with a certificate: {answered.stderr.strip()}")
        for port_url, path in ((url, "/health"), (peer, "/members")):
            refused = admin.run(f"curl -sS {TLS12} --max-time 5 --cacert {ca} {port_url}{path}")
            why = checks.tls_refusal(refused.rc, refused.stderr)
            if why:
                problems.append(f"{port_url}: {why}")
        plain = admin.run(f"curl -sS --max-time 5 {url.replace('https', 'http')}/health")
        if '"health"' in plain.stdout:
            problems.append(f"{url} answers plain HTTP")
    assert not problems, "SEC-05: " + "; ".join(problems)
