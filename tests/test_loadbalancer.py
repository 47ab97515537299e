"""LB-01..05, SEC-01, SEC-04: the HAProxy pair as it runs."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from provision import checks
from provision.facts import HAPROXY_ADMIN_SOCK
from provision.roles import loadbalancer as lb_role
from provision.topology import Plan

ADMIN_SOCK = HAPROXY_ADMIN_SOCK


def cmap(t) -> dict[str, str]:
    return checks.parse_cmap(t.check_output("corosync-cmapctl"))


def crm_mon(t) -> ET.Element:
    return ET.fromstring(t.check_output("crm_mon -1 --output-as=xml"))


def active_node(plan: Plan, host) -> str:
    root = crm_mon(host(plan.loadbalancers[0].name))
    nodes = [n.get("name") for r in root.iter("resource") if r.get("id") == plan.pacemaker.vip_resource for n in r.iter("node")]
    assert len(nodes) == 1, f"the VIP runs on {nodes}"
    return nodes[0]


@pytest.mark.promise("LB-01")
def test_corosync_settings_membership_and_quorum(plan, host, lab):
    members = [h.name for h in plan.loadbalancers]
    for lb in plan.loadbalancers:
        t = host(lb.name)
        problems = checks.corosync_settings(t.check_output("corosync-cmapctl"), plan, lb.name)
        problems += checks.quorum(t.check_output("corosync-quorumtool -s"), members, lb.name)
        assert not problems, "; ".join(problems)
        ring = t.check_output("corosync-cfgtool -s")
        assert str(lb.lab_nic.address) in ring


@pytest.mark.promise("LB-01", "SEC-04")
def test_corosync_traffic_is_encrypted_with_one_shared_key(plan, host, lab):
    sums = set()
    for lb in plan.loadbalancers:
        t = host(lb.name)
        values = cmap(t)
        assert values["totem.crypto_cipher"] == plan.corosync.crypto_cipher != "none"
        assert values["totem.crypto_hash"] == plan.corosync.crypto_hash != "none"
        key = t.file(lb_role.AUTHKEY)
        assert key.exists and key.mode == 0o400 and key.user == "root"
        sums.add(t.check_output(f"sha256sum {lb_role.AUTHKEY}").split()[0])
    assert len(sums) == 1, "the two nodes hold different authkeys"


@pytest.mark.promise("LB-02")
def test_pacemaker_properties(plan, host, lab):
    p = plan.pacemaker
    t = host(plan.loadbalancers[0].name)

    def prop(name: str, kind: str = "crm_config") -> str:
        return t.check_output(f"crm_attribute --type {kind} --name {name} --query --quiet").strip()

    assert prop("stonith-enabled") == str(p.stonith_enabled).lower()
    assert prop("no-quorum-policy") == p.no_quorum_policy
    assert prop("resource-stickiness", "rsc_defaults") == str(p.resource_stickiness)


@pytest.mark.promise("LB-03")
def test_vip_and_haproxy_run_together_on_exactly_one_node(plan, host, lab):
    p = plan.pacemaker
    xml = host(plan.loadbalancers[0].name).check_output("crm_mon -1 --output-as=xml")
    problems = checks.vip_placement(xml, plan)
    assert not problems, "; ".join(problems)
    holder = active_node(plan, host)
    for lb in plan.loadbalancers:
        t = host(lb.name)
        has_vip = str(plan.vip.address) in t.interface(lb.lab_nic.ifname).addresses
        assert has_vip == (lb.name == holder)
        assert t.service("haproxy").is_running == (lb.name == holder)
    cib = ET.fromstring(host(holder).check_output("cibadmin --query"))
    col = next(cib.iter("rsc_colocation"))
    assert col.get("score") == "INFINITY"
    order = next(cib.iter("rsc_order"))
    assert (order.get("first"), order.get("then")) == (p.vip_resource, p.haproxy_resource)
    vip = next(r for r in cib.iter("primitive") if r.get("id") == p.vip_resource)
    params = {nv.get("name"): nv.get("value") for nv in vip.iter("nvpair")}
    assert params["ip"] == str(plan.vip.address) and params["cidr_netmask"] == "32"
    assert params["migration-threshold"] == str(p.migration_threshold)
    for r in cib.iter("primitive"):
        mon = next(op for op in r.iter("op") if op.get("name") == "monitor")
        assert mon.get("interval") == f"{p.monitor_interval_s}s"


@pytest.mark.promise("LB-04")
def test_haproxy_frontend_backend_and_resolvers_in_effect(plan, host, lab):
    holder = host(active_node(plan, host))
    h = plan.haproxy
    problems = checks.haproxy_backend(holder.check_output(f"echo 'show stat' | nc -U {ADMIN_SOCK}"), plan)
    assert not problems, "; ".join(problems)
    # Server addresses came from the resolvers section (the gateway's DNS), one per master.
    state = holder.check_output(f"echo 'show servers state {h.backend}' | nc -U {ADMIN_SOCK}")
    addrs = {cols[3]: cols[4] for cols in (ln.split() for ln in state.splitlines()[2:]) if len(cols) > 4}
    for m in plan.masters:
        assert addrs[m.name] == str(m.lab_nic.address)
    listening = holder.check_output("ss -Hltn")
    assert f"*:{plan.vip.port}" in listening or f"0.0.0.0:{plan.vip.port}" in listening
    resolvers = holder.check_output(f"echo 'show resolvers' | nc -U {ADMIN_SOCK}")
    valid = next(int(ln.split()[-1]) for ln in resolvers.splitlines() if ln.strip().startswith("valid:"))
    assert "nameserver dns-01" in resolvers and valid > 0, "the resolvers section has answered nothing"
    assert f"nameserver dns-01 {plan.networks[plan.vip.network].gateway}:53" in holder.file(lb_role.HAPROXY_CFG).content_string
    cfg = holder.file(lb_role.HAPROXY_CFG).content_string
    assert f"fall {h.fall} rise {h.rise}" in cfg and f"timeout connect {h.timeout_connect}" in cfg


def dmz_client(plan) -> str:
    """Who asks the VIP from the dmz: the admin host, or the gateway where a smaller plan has none."""
    admins = plan.by_role("admin")
    return admins[0].name if admins else plan.gateway.name


@pytest.mark.promise("LB-05", "SEC-01")
def test_stats_need_the_generated_password_and_refuse_the_default(plan, host, lab):
    admin = host(dmz_client(plan))
    password = lab.stats_password()
    if password is None:
        pytest.skip(f"the {lab.name} provider does not know the stats password (haproxy_stats_password in the inventory)")
    url = f"http://{plan.vip.address}:{plan.haproxy.stats_port}/"
    code = "curl -s -o /dev/null -w '%{http_code}' --max-time 5"
    assert admin.check_output(f"{code} {url}") == "401"
    assert admin.check_output(f"{code} -u admin:admin {url}") == "401"
    assert admin.check_output(f"{code} -u {plan.haproxy.stats_user}:{password} {url}") == "200"


@pytest.mark.promise("LB-03")
def test_vip_answers_from_the_dmz(plan, host, lab):
    """Smoke check of the pair: the VIP takes TCP connections on the API port."""
    admin = host(dmz_client(plan))
    assert admin.run(f"nc -z -w 3 {plan.vip.address} {plan.vip.port}").rc == 0
