"""Gateway step: forwarding, NAT rules, dnsmasq (the provider connected its uplink)."""

from __future__ import annotations

from provision.errors import ProviderError
from provision.roles.gateway import NAT_UNIT, RULES
from provision.steps import must


def configure(p) -> None:
    """Forwarding, the NAT rules and dnsmasq, on any provider: the role wrote their files."""
    name = p.plan.gateway.name
    must(p.run(name, ["sysctl", "-q", "-p", "/etc/sysctl.d/10-gateway.conf"]), f"{name}: sysctl")
    wan_ifname = p.plan.gateway.wan_nic.ifname
    # The unit loads the rules at every boot; now too, where they are missing.
    if not p.run(name, ["systemctl", "is-enabled", "--quiet", NAT_UNIT]).ok:
        must(p.run(name, ["systemctl", "enable", NAT_UNIT]), f"{name}: enable {NAT_UNIT}")
        p.changed(f"{name}: enabled {NAT_UNIT}")
    if f"-o {wan_ifname} -j MASQUERADE" not in p.run(name, ["iptables", "-t", "nat", "-S", "POSTROUTING"]).stdout:
        must(p.run(name, ["systemctl", "restart", NAT_UNIT]), f"{name}: load {RULES} ({NAT_UNIT})")
        p.changed(f"{name}: loaded iptables rules")
    p.ensure_active(name, "dnsmasq")


def wait_for_leases(p) -> None:
    plan = p.plan
    for host in plan.hosts:
        if host.role == "gateway":
            continue
        want = plan.fixed_address(host)
        try:
            got = p.wait_for(f"a DHCP lease on {host.name}", lambda h=host: p.address(h), 30)
        except ProviderError as e:
            # what the host's networkd says of the lab NIC, so the cause is in the error
            status = p.run(host.name, ["networkctl", "status", "--no-pager", "-n", "15", host.lab_nic.ifname], timeout=20)
            raise ProviderError(f"{e}\n{(status.stdout or status.stderr).strip()[-1500:]}") from None
        if want and got != str(want):
            raise ProviderError(f"{host.name} got {got} by DHCP instead of its reserved {want}")
