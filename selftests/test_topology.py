import pytest
from pydantic import ValidationError

from provision import topology
from provision.topology import WAN, etcd_fault_tolerance


def test_default_plan_loads_with_the_documents_hosts():
    plan = topology.load()
    names = [h.name for h in plan.hosts]
    assert plan.gateway.name == "gate-node01"
    assert [h.name for h in plan.loadbalancers] == ["hapx-node01", "hapx-node02"]
    assert [h.name for h in plan.masters] == ["kube-mast01", "kube-mast02", "kube-mast03"]
    assert [h.name for h in plan.workers] == ["kube-node01", "kube-node02", "kube-node03"]
    assert [h.name for h in plan.glusters] == ["glus-node01", "glus-node02", "glus-node03"]
    assert any(h.role == "admin" and h.network == plan.vip.network for h in plan.hosts)
    assert len(set(names)) == len(names)


def test_gateway_is_on_every_subnet_and_the_uplink():
    plan = topology.load()
    attached = {n.network for n in plan.gateway.nics}
    assert attached == set(plan.networks) | {WAN}
    assert plan.fixed_address(plan.gateway) == plan.networks[plan.gateway.network].gateway


def test_plan_is_immutable():
    plan = topology.load()
    with pytest.raises(ValidationError, match="frozen"):
        plan.vip.address = "192.168.4.21"  # type: ignore[misc]


def test_all_packages_is_the_sorted_union_of_roles_and_base_by_their_carriers():
    plan = topology.load()
    pkgs = plan.all_packages()
    assert list(pkgs) == sorted(set(pkgs))
    for role in ("gateway", "loadbalancer", "master", "worker", "gluster", "admin"):
        assert set(plan.debian_packages(plan.role_packages(role))) <= set(pkgs)
    assert set(plan.debian_packages(plan.base_packages)) <= set(pkgs)
    # resolvconf is carried by systemd-resolved, ntopng by nothing in Debian 12 (DOC-06)
    assert "systemd-resolved" in pkgs and not {"resolvconf", "ntopng"} & set(pkgs)
    assert {"resolvconf", "ntopng"} <= set(plan.documents_packages())
    assert plan.debian_package("haproxy") == "haproxy" and plan.debian_package("ntopng") is None


def test_with_upstream_replaces_only_the_resolvers():
    plan = topology.load()
    other = plan.with_upstream([topology.IPv4("198.51.100.53")])
    assert [str(a) for a in other.dns.upstream] == ["198.51.100.53"]
    assert other.hosts == plan.hosts and other.networks == plan.networks
    assert plan.dns.upstream != other.dns.upstream


def test_etcd_fault_tolerance_matches_the_documents_formula():
    # DOC-03: the documents' table says 5 for N=10; N/2+1 is 6.
    assert etcd_fault_tolerance(3) == (1, 2)
    assert etcd_fault_tolerance(10) == (4, 6)
    assert etcd_fault_tolerance(1) == (0, 1)


def test_corosync_consensus_follows_token():
    plan = topology.load()
    assert plan.corosync.consensus == int(plan.corosync.token * 1.2)
