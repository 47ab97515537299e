"""Per-host network configuration for systemd-networkd: DHCP everywhere but the gateway."""

from __future__ import annotations

from provision.providers.local.outside import OUTSIDE_ADDRESS, OUTSIDE_NET, WAN_ADDRESS
from provision.render import File
from provision.topology import WAN, Host, Plan

_NO_V6 = "LinkLocalAddressing=no\nIPv6AcceptRA=no\nLLDP=no\n"


def files(plan: Plan, host: Host) -> list[File]:
    out: list[File] = []
    if host.role == "gateway":
        for nic in host.nics:
            if nic.network == WAN:
                body = f"Address={WAN_ADDRESS}/{OUTSIDE_NET.prefixlen}\nGateway={OUTSIDE_ADDRESS}\n"
            else:
                net = plan.networks[nic.network]
                body = f"Address={net.gateway}/{net.cidr.prefixlen}\n"
            out.append(File(f"/etc/systemd/network/10-{nic.ifname}.network", f"[Match]\nName={nic.ifname}\n\n[Network]\n{body}{_NO_V6}"))
        # The gateway resolves through its own dnsmasq; no resolved beside it.
        out.append(File("/etc/resolv.conf", f"nameserver {plan.networks[host.network].gateway}\nsearch {plan.lab.domain}\n"))
        return out
    nic = host.lab_nic
    out.append(
        File(
            f"/etc/systemd/network/10-{nic.ifname}.network",
            f"[Match]\nName={nic.ifname}\n\n[Network]\nDHCP=ipv4\n{_NO_V6}\n[DHCPv4]\nSendHostname=yes\nUseDomains=yes\n",
        )
    )
    out.append(File("/etc/systemd/resolved.conf.d/underhood.conf", "[Resolve]\nLLMNR=no\nMulticastDNS=no\nDNSSEC=no\n"))
    return out
