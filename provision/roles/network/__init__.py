"""Per-host network configuration for systemd-networkd: DHCP everywhere but the gateway.

The gateway's uplink is the provider's business (a namespace of ours, or the hypervisor's
NAT): the provider hands it over as an Uplink, or None when its own DHCP configures it."""

from __future__ import annotations

from dataclasses import dataclass

from provision.render import File
from provision.topology import WAN, Host, Plan

_NO_V6 = "LinkLocalAddressing=no\nIPv6AcceptRA=no\nLLDP=no\n"


@dataclass(frozen=True)
class Uplink:
    address: str  # with its prefix length, as networkd's Address= takes it
    gateway: str


def files(plan: Plan, host: Host, uplink: Uplink | None = None) -> list[File]:
    out: list[File] = []
    if host.role == "gateway":
        for nic in host.nics:
            if nic.network == WAN:
                if uplink is None:
                    continue
                body = f"Address={uplink.address}\nGateway={uplink.gateway}\n"
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
