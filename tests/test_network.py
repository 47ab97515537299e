"""NET-03..06: addresses, DHCP leases, routing, NAT and DNS, checked on the running lab."""

from __future__ import annotations

import ipaddress
import time
import uuid

import pytest

from provision import checks
from provision.errors import ProviderError
from provision.facts import DNSMASQ_LEASES
from provision.roles.gateway import DNS_CONF, NAT_UNIT, RULES
from provision.topology import WAN, Plan

LEASES = DNSMASQ_LEASES
#: Units that load the gateway's rules file at boot: the lab's own, or Debian's iptables-persistent.
BOOT_RULES_UNITS = (NAT_UNIT, "netfilter-persistent.service")
#: Renewals asked of a client whose answer went missing (the server granted, the client stored nothing).
RENEW_ATTEMPTS = 3


def lab_hosts(plan: Plan):
    return [h for h in plan.hosts if h.role != "gateway"]


def one_per_subnet(plan: Plan):
    seen = {}
    for h in lab_hosts(plan):
        seen.setdefault(h.network, h)
    return list(seen.values())


@pytest.mark.promise("NET-01", "NET-03")
def test_gateway_has_254_on_every_subnet(plan, host, lab):
    gw = host(plan.gateway.name)
    for nic in plan.gateway.nics:
        if nic.network == WAN:
            continue
        net = plan.networks[nic.network]
        assert gw.interface(nic.ifname).addresses == [str(net.gateway)]
        assert net.cidr.prefixlen == ipaddress.ip_network(gw.check_output(f"ip -4 -o addr show dev {nic.ifname}").split()[3], strict=False).prefixlen


@pytest.mark.promise("NET-01", "NET-03", "NET-04")
def test_every_host_has_an_address_router_and_resolver_from_dhcp(plan, host, lab):
    for h in lab_hosts(plan):
        t = host(h.name)
        net = plan.networks[h.network]
        addrs = [a for a in t.interface(h.lab_nic.ifname).addresses if a != str(plan.vip.address)]
        assert len(addrs) == 1, (h.name, addrs)
        addr = ipaddress.ip_address(addrs[0])
        assert addr in net.cidr
        fixed = plan.fixed_address(h)
        if fixed:
            assert addr == fixed, f"{h.name} did not get its reserved address"
        else:
            assert net.dhcp.start <= addr <= net.dhcp.end, f"{h.name}: {addr} outside the DHCP range"
        route = t.check_output("ip -4 route show default")
        assert f"via {net.gateway} dev {h.lab_nic.ifname}" in route and "proto dhcp" in route
        assert str(net.gateway) in t.check_output(f"resolvectl dns {h.lab_nic.ifname}")
        assert plan.lab.domain in t.check_output(f"resolvectl domain {h.lab_nic.ifname}")


def whole_leases(gw, lab) -> str:
    """The gateway's lease file as dnsmasq last wrote it. dnsmasq rewrites it in place
    (truncate, then write), so a read in the middle misses entries: two reads alike are whole."""
    last: list[str] = []

    def twice_alike() -> str | None:
        text = gw.file(LEASES).content_string
        alike = last and last[-1] == text
        last.append(text)
        return text if alike else None

    return lab.wait_for("two reads of the gateway's lease file alike", twice_alike, 10, interval=0.1)


@pytest.mark.promise("NET-04")
def test_leases_on_the_gateway_have_the_documents_lease_time(plan, host, lab):
    problems = checks.dnsmasq_leases(whole_leases(host(plan.gateway.name), lab), plan)
    assert not problems, "; ".join(problems)


def renewal_hosts(plan: Plan):
    """One DHCP client per subnet, the last of its subnet that is not a load-balancer node (a
    renewal keeps the address, but the VIP's node is left alone all the same)."""
    chosen = {}
    for h in lab_hosts(plan):
        if h.role != "loadbalancer":
            chosen[h.network] = h
    return list(chosen.values())


@pytest.mark.promise("NET-04")
def test_a_lease_renewed_now_has_the_plans_lease_time(plan, host, lab):
    # The leases held may be hours old: what the gateway serves now shows only in a lease it
    # grants now, so one client per subnet asks for a renewal.
    gw = host(plan.gateway.name)
    problems = []
    for h in renewal_hosts(plan):
        client = host(h.name)
        lease_file = f"/run/systemd/netif/leases/$(cat /sys/class/net/{h.lab_nic.ifname}/ifindex)"

        def expiry_of(name=h.name):
            return checks.parse_leases(whole_leases(gw, lab)).get(name, (None, ""))[0]

        # A lost answer is retried by the client only much later (half the time to T2), so
        # the test asks again, a bounded number of times; a client that never stores a
        # renewed lease still fails.
        for attempt in range(1, RENEW_ATTEMPTS + 1):
            before = expiry_of()
            written = client.check_output(f"stat -c %y {lease_file}")
            client.check_output(f"networkctl renew {h.lab_nic.ifname}")

            def renewed(before=before, expiry_of=expiry_of):
                expiry = expiry_of()
                return (expiry, time.time()) if expiry is not None and expiry != before else None  # shorter too

            expiry, seen_at = lab.wait_for(f"the gateway to renew {h.name}'s lease", renewed, 20, interval=0.5)
            # The server writes its lease when it answers, the client when it has read the
            # answer: the client's file is read once it has been written again.
            try:
                lab.wait_for(f"{h.name}'s DHCP client to store the renewed lease",
                             lambda c=client, f=lease_file, w=written: c.check_output(f"stat -c %y {f}") != w, 20, interval=0.2)
                break
            except ProviderError:
                if attempt == RENEW_ATTEMPTS:
                    raise
        client_lease = client.check_output(f"cat {lease_file}")
        problems += checks.renewed_lease(plan, h.name, expiry, seen_at, client_lease)
    assert not problems, "; ".join(problems)


@pytest.mark.promise("NET-04")
def test_dhcp_options_router_dns_and_classless_route(plan, host, lab):
    # networkd keeps the options it was offered; the classless route shows as the default route.
    for h in one_per_subnet(plan):
        t = host(h.name)
        lease = t.check_output("cat /run/systemd/netif/leases/*")
        net = plan.networks[h.network]
        assert f"ROUTER={net.gateway}" in lease and f"DNS={net.gateway}" in lease
        assert f"DOMAINNAME={plan.lab.domain}" in lease
        assert f"CLASSLESS_ROUTES=0.0.0.0/0,{net.gateway}" in lease.replace(" ", "")


@pytest.mark.promise("NET-05")
def test_hosts_reach_other_subnets_through_the_gateway(plan, host, lab):
    gw_forward = host(plan.gateway.name).sysctl("net.ipv4.ip_forward")
    assert gw_forward == 1
    subnets = one_per_subnet(plan)
    for src in subnets:
        for dst in subnets:
            if src.network == dst.network:
                continue
            target = lab.address(dst)
            res = host(src.name).run(f"ping -c 1 -W 2 {target}")
            assert res.rc == 0, f"{src.name} ({src.network}) cannot reach {dst.name} ({dst.network}): {res.stdout}"


@pytest.mark.promise("NET-05")
def test_the_gateway_loads_its_forwarding_and_nat_rules_at_boot(plan, host):
    """Rules loaded by hand are gone after a restart: something must load them at boot
    (the chaos suite restarts the gateway and sees them back)."""
    gw = host(plan.gateway.name)
    wan = plan.gateway.wan_nic.ifname
    # (testinfra's is_enabled raises for a unit that is not installed)
    enabled = [u for u in BOOT_RULES_UNITS if gw.run(f"systemctl is-enabled --quiet {u}").rc == 0]
    assert enabled, f"NET-05: nothing loads {RULES} at boot (none of {', '.join(BOOT_RULES_UNITS)} enabled): a restarted gateway would not NAT"
    rules = gw.file(RULES).content_string
    assert f"-A POSTROUTING -o {wan} -j MASQUERADE" in rules, f"NET-05: {RULES} has no MASQUERADE out of {wan}"


def outside(lab):
    target = lab.outside_target()
    if target is None:
        pytest.skip(f"the {lab.name} provider names no outside service (outside: in the inventory)")
    return target


@pytest.mark.promise("NET-05")
def test_nat_to_the_outside_shows_the_gateways_address(plan, host, lab):
    target = outside(lab)
    for h in one_per_subnet(plan):
        res = host(h.name).run(f"nc -w 3 {target.address} {target.port}")
        assert res.rc == 0, f"NET-05: {h.name} cannot reach the outside service {target.address}:{target.port}"
        if target.expected_source:
            seen = res.stdout.strip()
            assert seen == target.expected_source, f"NET-05: the outside saw {h.name} as {seen!r}, not the gateway's uplink"


@pytest.mark.promise("NET-06")
def test_every_host_resolves_every_other_as_fqdn(plan, host, lab):
    addresses = {h.name: lab.address(h) for h in lab_hosts(plan)}
    for src in one_per_subnet(plan):
        t = host(src.name)
        for name, address in addresses.items():
            if name == src.name:
                continue  # a host answers its own name from nss-myhostname, not DNS
            out = t.check_output(f"getent hosts {plan.fqdn(name)}")
            assert out.split()[0] == address, f"{src.name} resolves {plan.fqdn(name)} as {out}"
        other = next(h.name for h in lab_hosts(plan) if h.name != src.name)
        assert t.check_output(f"getent hosts {other}").split()[0] == addresses[other], "short names via the search domain"


@pytest.mark.promise("NET-06")
def test_dnsmasq_options_in_effect(plan, host, lab):
    gw = host(plan.gateway.name)
    client = host(one_per_subnet(plan)[0].name)
    dns = str(plan.networks[client_net(plan)].gateway)
    target = outside(lab)
    # names unique to this run: the resolver's log is shared by every run on this lab
    tag = uuid.uuid4().hex[:10]
    elsewhere, single, private = f"elsewhere-{tag}.test", f"nolabel{tag}", f"10.{int(tag[:2], 16)}.{int(tag[2:4], 16)}.7"
    # upstream names are forwarded and answered
    assert client.check_output(f"dig +short @{dns} {target.name}").strip() != "", f"NET-06: {target.name} did not resolve upstream"
    # domain-needed: a single-label name is never forwarded upstream
    answer = client.check_output(f"dig @{dns} {single}")
    assert "NXDOMAIN" in answer or "REFUSED" in answer
    client.run(f"dig @{dns} {elsewhere}")
    client.run(f"dig @{dns} -x {private}")
    config = gw.file(DNS_CONF).content_string.splitlines()
    if target.stub_log is not None:
        # by behaviour: what reached the upstream resolver
        log = target.stub_log.read_text()
        assert elsewhere in log, "the stub saw no forwarded query: the checks below would prove nothing"
        assert single not in log, f"NET-06: dnsmasq forwarded the single-label name {single} upstream (domain-needed)"
        reverse = ".".join(reversed(private.split("."))) + ".in-addr.arpa"
        assert reverse not in log, f"NET-06: dnsmasq forwarded the private reverse lookup {reverse} upstream (bogus-priv)"
    else:
        # by configuration, where the upstream's log cannot be read
        for option in ("domain-needed", "bogus-priv"):
            assert option in config, f"NET-06: {option} is not in the gateway's dnsmasq configuration"
    assert f"domain={plan.lab.domain}" in config
    # bind-interfaces: dnsmasq is bound to the lab addresses only, never the uplink
    listening = gw.check_output("ss -Hlnu sport = :53")
    assert "0.0.0.0:53" not in listening, "NET-06: dnsmasq listens on every address, the uplink too"
    if target.expected_source:
        assert target.expected_source not in listening, "NET-06: dnsmasq listens on the uplink"
    for net in plan.networks.values():
        assert f"{net.gateway}:53" in listening


def client_net(plan: Plan) -> str:
    return one_per_subnet(plan)[0].network
