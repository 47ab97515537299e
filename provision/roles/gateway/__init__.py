"""The gateway: DNS, DHCP, routing and NAT for every subnet (dnsmasq, iptables)."""

from __future__ import annotations

from provision.render import File, render
from provision.secrets import Secrets
from provision.topology import WAN, Host, Plan

DNS_CONF = "/etc/dnsmasq.d/dns"
RULES = "/etc/iptables/rules.v4"
#: Loads RULES at boot (iptables-persistent would too, but its install saves the rules of
#: wherever the base image is built into that image, which every host shares).
NAT_UNIT = "gateway-nat.service"


def reservations(plan: Plan) -> list[tuple[str, str]]:
    """(host, address) for every host whose lab address the plan fixes (dhcp-host)."""
    return [(h.name, str(h.lab_nic.address)) for h in plan.hosts if h.role != "gateway" and h.lab_nic.address]


def files(plan: Plan, host: Host, secrets: Secrets) -> list[File]:
    lab_nics = [n for n in host.nics if n.network != WAN]
    wan = host.wan_nic
    ctx = {"plan": plan, "lab_nics": lab_nics, "wan": wan, "reservations": reservations(plan)}
    return [
        File(DNS_CONF, render("gateway", "dns.conf.j2", **ctx)),
        File("/etc/dnsmasq.d/resolv-file", render("gateway", "resolv-file.conf.j2", **ctx)),
        File("/etc/dnsmasq.d/dhcp", render("gateway", "dhcp.conf.j2", **ctx)),
        File("/etc/sysctl.d/10-gateway.conf", render("gateway", "10-gateway.conf.j2", **ctx)),
        File(RULES, render("gateway", "rules.v4.j2", **ctx)),
        File(f"/etc/systemd/system/{NAT_UNIT}", render("gateway", "gateway-nat.service.j2", **ctx)),
    ]
