"""Gateway step: the uplink to our outside, forwarding, NAT rules, dnsmasq."""

from __future__ import annotations

from provision.errors import ProviderError
from provision.providers.local.steps import must
from provision.topology import WAN


def apply(p) -> None:
    plan = p.plan
    gw = p.container(plan.gateway)
    wan = next(ln for ln, nic in zip(gw.links, plan.gateway.nics, strict=True) if nic.network == WAN)
    if p.outside.attach(wan.host_side):
        p.changed(f"outside: attached {wan.host_side}")
    if p.outside.start_services():
        p.changed("outside: started the stub resolver and service")
    must(gw.run(["sysctl", "-q", "-p", "/etc/sysctl.d/10-gateway.conf"]), f"{plan.gateway.name}: sysctl")
    wan_ifname = next(n.ifname for n in plan.gateway.nics if n.network == WAN)
    if f"-o {wan_ifname} -j MASQUERADE" not in gw.run(["iptables", "-t", "nat", "-S", "POSTROUTING"]).stdout:
        must(gw.run(["sh", "-c", "iptables-restore < /etc/iptables/rules.v4"]), f"{plan.gateway.name}: iptables-restore")
        p.changed(f"{plan.gateway.name}: loaded iptables rules")
    p.ensure_active(plan.gateway.name, "dnsmasq")


def wait_for_leases(p) -> None:
    plan = p.plan
    for host in plan.hosts:
        if host.role == "gateway":
            continue
        want = plan.fixed_address(host)
        got = p.wait_for(f"a DHCP lease on {host.name}", lambda h=host: p.address(h), 30)
        if want and got != str(want):
            raise ProviderError(f"{host.name} got {got} by DHCP instead of its reserved {want}")
