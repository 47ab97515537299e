"""Gateway step: the uplink to our outside, forwarding, NAT rules, dnsmasq."""

from __future__ import annotations

from provision.errors import ProviderError


def apply(p) -> None:
    plan = p.plan
    gw = p.container(plan.gateway)
    wan = next(ln for ln, nic in zip(gw.links, plan.gateway.nics, strict=True) if nic.network == "wan")
    p.outside.attach(wan.host_side)
    p.outside.start_services()
    for argv in (
        ["sysctl", "-q", "-p", "/etc/sysctl.d/10-gateway.conf"],
        ["sh", "-c", "iptables-restore < /etc/iptables/rules.v4"],
        ["systemctl", "enable", "--now", "dnsmasq"],
    ):
        res = gw.run(argv)
        if not res.ok:
            raise ProviderError(f"{plan.gateway.name}: {' '.join(argv)}: {res.stderr.strip()}")
    p.wait_for("dnsmasq on the gateway", lambda: gw.run(["systemctl", "is-active", "dnsmasq"]).ok, 20)


def wait_for_leases(p) -> None:
    plan = p.plan
    for host in plan.hosts:
        if host.role == "gateway":
            continue
        want = plan.fixed_address(host)
        got = p.wait_for(f"a DHCP lease on {host.name}", lambda h=host: p.address(h), 30)
        if want and got != str(want):
            raise ProviderError(f"{host.name} got {got} by DHCP instead of its reserved {want}")
