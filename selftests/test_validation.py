"""One test per class of refused plan: each asserts the field path named in the error."""

import pytest

from provision import topology
from provision.errors import PlanError
from provision.validation import findings


def refused(build, raw) -> PlanError:
    with pytest.raises(PlanError) as info:
        build(raw)
    return info.value


def test_default_plan_has_no_findings():
    assert findings(topology.load()) == []


def test_malformed_yaml_names_line(tmp_path):
    bad = tmp_path / "plan.yaml"
    bad.write_text("lab:\n  name: [unclosed\n")
    with pytest.raises(PlanError) as info:
        topology.load(bad)
    assert "line" in info.value.path


def test_not_a_mapping():
    with pytest.raises(PlanError, match="YAML mapping"):
        topology.parse(["a", "list"])


def test_unknown_key(build, raw):
    raw["networks"]["mast"]["gatway"] = "192.168.1.254"
    err = refused(build, raw)
    assert err.path == "networks.mast.gatway"
    assert "unknown key" in err.fix


def test_carrier_of_a_package_no_role_names(build, raw):
    raw["carriers"]["ntop"] = {"package": None, "why": "a typo of ntopng"}
    err = refused(build, raw)
    assert err.path == "carriers.ntop"
    assert "no role" in err.fix


def test_missing_key(build, raw):
    del raw["vip"]["address"]
    assert refused(build, raw).path == "vip.address"


def test_bad_type(build, raw):
    raw["vip"]["address"] = "not-an-ip"
    assert refused(build, raw).path == "vip.address"


def test_duplicate_host_name(build, raw):
    raw["hosts"][8]["name"] = raw["hosts"][7]["name"]
    err = refused(build, raw)
    assert err.path == "hosts[8].name"
    assert "hosts[7]" in err.fix


def test_address_outside_its_subnet(build, raw):
    raw["hosts"][3]["nics"][0]["address"] = "192.168.2.11"
    err = refused(build, raw)
    assert err.path == "hosts[3].nics[0].address"
    assert "192.168.1.0/24" in err.fix


def test_overlapping_subnets(build, raw):
    raw["networks"]["glus"]["cidr"] = "192.168.2.0/23"
    raw["networks"]["glus"]["gateway"] = "192.168.3.254"
    err = refused(build, raw)
    assert err.path.startswith("networks.") and err.path.endswith(".cidr")
    assert "overlaps" in err.fix


def test_overlapping_dhcp_ranges_doc01(build, raw):
    # DOC-01's table value: the glus range inside the node subnet.
    raw["networks"]["glus"]["dhcp"]["start"] = "192.168.2.50"
    err = refused(build, raw)
    assert err.path == "networks.glus.dhcp.start"


def test_fixed_address_inside_a_dhcp_range(build, raw):
    raw["hosts"][4]["nics"][0]["address"] = "192.168.1.60"
    err = refused(build, raw)
    assert err.path == "hosts[4].nics[0].address"
    assert "networks.mast.dhcp" in err.fix


def test_two_hosts_with_one_address(build, raw):
    raw["hosts"][5]["nics"][0]["address"] = raw["hosts"][4]["nics"][0]["address"]
    err = refused(build, raw)
    assert err.path == "hosts[5].nics[0].address"


def test_vip_inside_dhcp_range_net07(build, raw):
    raw["vip"]["address"] = "192.168.4.60"
    err = refused(build, raw)
    assert err.path == "vip.address"
    assert "NET-07" in err.fix


def test_vip_outside_its_subnet(build, raw):
    raw["vip"]["address"] = "192.168.1.20"
    assert refused(build, raw).path == "vip.address"


def test_metallb_pool_outside_node_subnet_net08(build, raw):
    raw["metallb"]["start"] = "192.168.3.10"
    raw["metallb"]["end"] = "192.168.3.20"
    err = refused(build, raw)
    assert err.path == "metallb.start"
    assert "NET-08" in err.fix


def test_metallb_pool_overlapping_dhcp_range_net08(build, raw):
    raw["metallb"]["end"] = "192.168.2.60"
    err = refused(build, raw)
    assert "metallb" in (err.path + err.fix) and "dhcp" in (err.path + err.fix)


def test_metallb_pool_in_a_subnet_without_workers(build, raw):
    raw["metallb"]["network"] = "dmz"
    raw["metallb"]["start"] = "192.168.4.30"
    raw["metallb"]["end"] = "192.168.4.40"
    assert refused(build, raw).path == "metallb.network"


def test_pod_cidr_overlapping_the_lab(build, raw):
    raw["lab"]["pod_cidr"] = "192.168.128.0/17"
    err = refused(build, raw)
    assert err.path == "lab.pod_cidr"


def test_no_masters_is_refused(build, raw):
    raw["hosts"] = [h for h in raw["hosts"] if h["role"] != "master"]
    err = refused(build, raw)
    assert err.path == "hosts" and "masters" in err.fix


@pytest.mark.parametrize("keep", [1, 2])
def test_one_or_even_masters_is_a_warning(raw, keep):
    masters = [i for i, h in enumerate(raw["hosts"]) if h["role"] == "master"]
    drop = set(masters[keep:])
    raw["hosts"] = [h for i, h in enumerate(raw["hosts"]) if i not in drop]
    raw["metallb"]["controller_replicas"] = keep  # one per master
    plan = topology.parse(raw)
    found = findings(plan)
    assert [f.severity for f in found] == ["warning"]
    assert found[0].path == "hosts" and f"tolerates {(keep - 1) // 2}" in found[0].fix


def test_master_without_fixed_address(build, raw):
    del raw["hosts"][3]["nics"][0]["address"]
    assert refused(build, raw).path == "hosts[3].nics[0].address"


def test_gateway_missing_a_subnet(build, raw):
    raw["hosts"][0]["nics"] = [n for n in raw["hosts"][0]["nics"] if n["network"] != "glus"]
    err = refused(build, raw)
    assert err.path == "hosts[0].nics" and err.value == "glus"


def test_nic_on_unknown_network(build, raw):
    raw["hosts"][9]["nics"][0]["network"] = "storage"
    assert refused(build, raw).path == "hosts[9].nics[0].network"


def test_replica_above_gluster_hosts(build, raw):
    raw["gluster"]["replica"] = 4
    raw["gluster"]["storage_class"]["volumetype"] = "replicate:4"
    assert refused(build, raw).path == "gluster.replica"


def test_metallb_controllers_above_the_masters(build, raw):
    masters = [h["name"] for h in raw["hosts"] if h["role"] == "master"]
    raw["hosts"] = [h for h in raw["hosts"] if h["name"] not in masters[1:]]
    err = refused(build, raw)
    assert err.path == "metallb.controller_replicas" and "at most 1" in err.fix
    raw["metallb"]["controller_replicas"] = 1  # the control: one per master passes
    assert build(raw).metallb.controller_replicas == 1


def test_two_node_needs_two_loadbalancers(build, raw):
    raw["hosts"] = [h for h in raw["hosts"] if h["name"] != "hapx-node02"]
    assert refused(build, raw).path == "corosync.two_node"


def test_a_slowdown_below_hardware_speed(build, raw):
    raw["vagrant"]["slowdown"] = 0.5
    err = refused(build, raw)
    assert err.path == "vagrant.slowdown"
    raw["vagrant"]["slowdown"] = 5  # the control: emulated VMs five times slower
    assert build(raw).vagrant.slowdown == 5
