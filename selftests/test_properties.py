"""Property tests over the plan model: generated valid plans keep every NET-* invariant;
mutated plans are refused with the right field named; ETCD-02's arithmetic holds."""

from __future__ import annotations

import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provision import topology
from provision.errors import PlanError
from provision.topology import etcd_fault_tolerance
from provision.validation import findings, validate
from selftests.conftest import _RAW

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def plans(draw) -> dict:
    """Plans within the validator's rules, shaped like the documents' lab."""
    raw = copy.deepcopy(_RAW)
    octets = draw(st.lists(st.integers(1, 250), min_size=4, max_size=4, unique=True))
    for name, octet in zip(("mast", "node", "glus", "dmz"), octets, strict=True):
        start = draw(st.integers(50, 120))
        end = draw(st.integers(start, 200))
        raw["networks"][name] = {
            "cidr": f"192.168.{octet}.0/24",
            "gateway": f"192.168.{octet}.254",
            "dhcp": {"start": f"192.168.{octet}.{start}", "end": f"192.168.{octet}.{end}", "lease": "12h"},
        }
    net = {n: octets[i] for i, n in enumerate(("mast", "node", "glus", "dmz"))}
    masters = draw(st.integers(1, 9))
    workers = draw(st.integers(0, 5))
    gw = raw["hosts"][0]
    hosts = [gw, *[h for h in raw["hosts"] if h["role"] in ("loadbalancer", "admin")]]
    for i, h in enumerate(x for x in hosts if x["role"] == "loadbalancer"):
        h["nics"][0]["address"] = f"192.168.{net['dmz']}.{11 + i}"
    hosts += [
        {
            "name": f"kube-mast{i:02d}",
            "role": "master",
            "nics": [{"network": "mast", "ifname": "enp0s8", "address": f"192.168.{net['mast']}.{10 + i}"}],
        }
        for i in range(1, masters + 1)
    ]
    hosts += [
        {"name": f"kube-node{i:02d}", "role": "worker", "nics": [{"network": "node", "ifname": "enp0s8"}]}
        for i in range(1, workers + 1)
    ]
    hosts += [
        {
            "name": f"glus-node{i:02d}",
            "role": "gluster",
            "nics": [{"network": "glus", "ifname": "enp0s8", "address": f"192.168.{net['glus']}.{10 + i}"}],
        }
        for i in range(1, 4)
    ]
    raw["hosts"] = hosts
    raw["vip"]["address"] = f"192.168.{net['dmz']}.{draw(st.integers(20, 49))}"
    lo = draw(st.integers(2, 49))
    hi = draw(st.integers(lo, 49))
    raw["metallb"].update(start=f"192.168.{net['node']}.{lo}", end=f"192.168.{net['node']}.{hi}",
                          controller_replicas=draw(st.integers(1, masters)))  # one per master at most
    return raw


@SETTINGS
@given(plans())
def test_every_generated_plan_keeps_the_net_invariants(raw):
    plan = topology.parse(raw)
    assert [f for f in findings(plan) if f.severity == "error"] == []
    nets = list(plan.networks.values())
    for i, a in enumerate(nets):  # NET-01, NET-09
        assert a.cidr.subnet_of(plan.lab.cidr)
        assert not any(a.cidr.overlaps(b.cidr) for b in nets[i + 1 :])
        assert not (a.dhcp.start <= a.gateway <= a.dhcp.end)
    assert not plan.lab.pod_cidr.overlaps(plan.lab.cidr)  # NET-02
    dmz = plan.networks[plan.vip.network]  # NET-07
    assert plan.vip.address in dmz.cidr and not (dmz.dhcp.start <= plan.vip.address <= dmz.dhcp.end)
    node = plan.networks[plan.metallb.network]  # NET-08
    pool = range(int(plan.metallb.start), int(plan.metallb.end) + 1)
    assert int(plan.metallb.start) in range(int(node.cidr[0]), int(node.cidr[-1]) + 1)
    taken = {int(a) for h in plan.hosts for a in [plan.fixed_address(h)] if a}
    assert not taken & set(pool)
    assert not set(range(int(node.dhcp.start), int(node.dhcp.end) + 1)) & set(pool)


@given(st.integers(1, 15))
def test_etcd02_arithmetic(n):
    tolerance, majority = etcd_fault_tolerance(n)
    assert majority > n / 2  # a majority is more than half
    assert n - tolerance >= majority  # losing T members keeps a majority
    assert n - (tolerance + 1) < majority  # losing one more does not


MUTATIONS = ("address_out_of_subnet", "vip_in_dhcp", "pool_over_dhcp", "subnet_overlap", "duplicate_name")


@SETTINGS
@given(plans(), st.sampled_from(MUTATIONS), st.data())
def test_mutated_plans_are_refused_with_the_field_named(raw, mutation, data):
    raw = copy.deepcopy(raw)
    if mutation == "address_out_of_subnet":
        i = data.draw(st.sampled_from([i for i, h in enumerate(raw["hosts"]) if h["nics"][0].get("address")][1:]))
        raw["hosts"][i]["nics"][0]["address"] = "10.1.2.3"
        expect = f"hosts[{i}].nics[0].address"
    elif mutation == "vip_in_dhcp":
        raw["vip"]["address"] = raw["networks"]["dmz"]["dhcp"]["start"]
        expect = "vip.address"
    elif mutation == "pool_over_dhcp":
        raw["metallb"]["end"] = raw["networks"]["node"]["dhcp"]["start"]
        expect = "metallb"
    elif mutation == "subnet_overlap":
        raw["networks"]["glus"]["cidr"] = raw["networks"]["node"]["cidr"]
        expect = "networks."
    else:
        raw["hosts"][2]["name"] = raw["hosts"][1]["name"]
        expect = "hosts[2].name"
    try:
        validate(topology.parse(raw))
    except PlanError as err:
        assert expect in err.path or expect in err.fix, (mutation, err)
    else:
        raise AssertionError(f"{mutation} was accepted")
