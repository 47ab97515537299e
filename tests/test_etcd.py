"""ETCD-01 and SEC-05 at host level: three members over TLS, one leader, no anonymous client."""

from __future__ import annotations

import json

import pytest

from provision import checks
from provision.providers.local.steps.etcd import CLIENT_DIR, etcdctl
from provision.roles.master import etcd_endpoints


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
    admin = plan.by_role("admin")[0].name
    assert etcdctl(lab, admin, "put", "/underhood/conformance", "ok").ok
    got = etcdctl(lab, admin, "get", "/underhood/conformance", "--print-value-only")
    assert got.stdout.strip() == "ok"
    assert etcdctl(lab, admin, "del", "/underhood/conformance").ok


@pytest.mark.promise("SEC-05")
def test_client_and_peer_ports_refuse_clients_without_a_certificate(plan, host, lab):
    admin = host(plan.by_role("admin")[0].name)
    ca = f"{CLIENT_DIR}/ca.crt"
    for url in etcd_endpoints(plan):
        # the server is real TLS (verifies against our CA) but wants a client certificate
        res = admin.run(f"curl -s --max-time 5 --cacert {ca} {url}/health")
        assert res.rc != 0, f"{url} answered a client without a certificate: {res.stdout}"
        assert admin.run(f"curl -s --max-time 5 {url.replace('https', 'http')}/health").stdout.find('"health"') < 0
        peer = url.replace(f":{plan.etcd.client_port}", f":{plan.etcd.peer_port}")
        assert admin.run(f"curl -s --max-time 5 --cacert {ca} {peer}/members").rc != 0
    # with the certificate the same request is answered
    ok = admin.run(f"curl -s --max-time 5 --cacert {ca} --cert {CLIENT_DIR}/client.crt "
                   f"--key {CLIENT_DIR}/client.key {etcd_endpoints(plan)[0]}/health")
    assert '"health":"true"' in ok.stdout
