"""Promises of the plan layer, checked on the plan itself before anything boots."""

from __future__ import annotations

import pytest

from provision.topology import Plan, etcd_fault_tolerance
from provision.validation import findings


def _addresses(start, end) -> set[int]:
    return set(range(int(start), int(end) + 1))


@pytest.mark.promise("NET-01")
def test_subnets_lie_in_the_lab_cidr(plan: Plan):
    for net in plan.networks.values():
        assert net.cidr.subnet_of(plan.lab.cidr)
        assert net.cidr.prefixlen == 24


@pytest.mark.promise("NET-02")
def test_pod_cidr_is_disjoint_from_the_lab(plan: Plan):
    assert not plan.lab.pod_cidr.overlaps(plan.lab.cidr)
    for net in plan.networks.values():
        assert not plan.lab.pod_cidr.overlaps(net.cidr)


@pytest.mark.promise("NET-07")
def test_vip_in_dmz_outside_dhcp(plan: Plan):
    net = plan.networks[plan.vip.network]
    assert plan.vip.address in net.cidr
    assert int(plan.vip.address) not in _addresses(net.dhcp.start, net.dhcp.end)
    assert {h.network for h in plan.loadbalancers} == {plan.vip.network}


@pytest.mark.promise("NET-08")
def test_metallb_pool_in_node_subnet_and_free(plan: Plan):
    net = plan.networks[plan.metallb.network]
    pool = _addresses(plan.metallb.start, plan.metallb.end)
    assert pool and all(a in _addresses(net.cidr[1], net.cidr[-2]) for a in pool)
    assert not pool & _addresses(net.dhcp.start, net.dhcp.end)
    assert int(net.gateway) not in pool
    fixed = {int(a) for h in plan.hosts if (a := plan.fixed_address(h))}
    assert not pool & fixed
    assert {h.network for h in plan.workers} == {plan.metallb.network}


@pytest.mark.promise("NET-09")
def test_nothing_overlaps(plan: Plan):
    spans = [_addresses(n.dhcp.start, n.dhcp.end) for n in plan.networks.values()]
    spans.append(_addresses(plan.metallb.start, plan.metallb.end))
    spans += [{int(a)} for h in plan.hosts for n in h.nics if (a := n.address)]
    spans += [{int(n.gateway)} for n in plan.networks.values()]
    spans.append({int(plan.vip.address)})
    seen: set[int] = set()
    for span in spans:
        assert not seen & span
        seen |= span
    assert [f for f in findings(plan) if f.severity == "error"] == []


@pytest.mark.promise("ETCD-02")
def test_etcd_tolerance_of_the_plan(plan: Plan):
    # etcd's own table (and the documents'): cluster size -> (failure tolerance, majority),
    # written out, not re-derived from the formula under test
    table = {1: (0, 1), 2: (0, 2), 3: (1, 2), 4: (1, 3), 5: (2, 3), 6: (2, 4), 7: (3, 4)}
    for size, expected in table.items():
        assert etcd_fault_tolerance(size) == expected, f"ETCD-02: {size} members"
    n = len(plan.masters)
    tolerance, majority = etcd_fault_tolerance(n)
    assert tolerance >= 1, f"{n} masters tolerate no failure"
    assert n - tolerance >= majority
