"""Converge the VMs: the same roles (files) and cross-host steps as the local provider, over
ssh, in the documents' order: gateway first (DHCP and DNS for everyone), then every other
host, the load-balancer pair, Gluster. The Kubernetes steps join when they can run on VMs:
a step is a function of the provider, so adding one touches no provider."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console

from provision import roles
from provision.errors import ProviderError
from provision.providers.local import netconfig
from provision.providers.local.steps import gateway, gluster, loadbalancer
from provision.render import File
from provision.secrets import Secrets
from provision.topology import WAN, Host

APT_TIMEOUT_S = 1800


def packages(p, host: Host) -> None:
    """The documents' image packages and the role's, from Debian's mirrors, through
    Vagrant's NAT NIC (the lab NICs have no route out before the gateway is up)."""
    wanted = [*p.plan.base_packages, *p.plan.role_packages(host.role)]
    missing = [pkg for pkg in wanted if not p.run(host.name, ["dpkg-query", "-W", "-f=${Status}", pkg], timeout=30)
               .stdout.endswith("installed")]
    if not missing:
        return
    script = ("export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && "
              f"apt-get install -y -qq --no-install-recommends {' '.join(missing)}")
    res = p.run(host.name, ["sh", "-c", script], timeout=APT_TIMEOUT_S)
    if not res.ok:
        raise ProviderError(f"{host.name}: installing {', '.join(missing)} failed: {res.stderr.strip()[-800:]}")
    p.changed(f"{host.name}: installed {', '.join(missing)}")


def network_files(p, host: Host) -> list[File]:
    """systemd-networkd for the lab NICs: the local provider's files, but the gateway's
    uplink is Vagrant's NAT NIC, which keeps the address Vagrant's DHCP gives it."""
    wan = {f"/etc/systemd/network/10-{n.ifname}.network" for n in host.nics if n.network == WAN}
    return [f for f in netconfig.files(p.plan, host) if f.path not in wan]


def host_files(p, host: Host, secrets: Secrets) -> None:
    for f in [*network_files(p, host), *roles.files_for(p.plan, host, secrets)]:
        if p.write(host.name, f.path, f.content, f.mode):
            p.changed(f"{host.name}: wrote {f.path}")
    p.ensure_active(host.name, "systemd-networkd")
    if any(c.startswith(f"{host.name}: wrote /etc/systemd/network/") for c in p.changes):
        p.run(host.name, ["networkctl", "reload"], timeout=30)


def converge(p) -> None:
    console = Console(stderr=True)
    plan = p.plan
    secrets = Secrets.load_or_create(p.state / "secrets")

    def step(name: str, fn: Callable[[], None]) -> None:
        start = time.monotonic()
        with console.status(f"[bold]{name}[/] ..."):
            fn()
        console.print(f"[green]✓[/] {name} [dim]({time.monotonic() - start:.1f} s)[/]")

    gw = plan.gateway
    step(f"{gw.name}: packages", lambda: packages(p, gw))
    step(f"{gw.name}: files", lambda: host_files(p, gw, secrets))
    step("gateway: forwarding, NAT, dnsmasq", lambda: gateway.configure(p))
    for host in plan.hosts:
        if host is gw:
            continue
        step(f"{host.name}: packages", lambda h=host: packages(p, h))
        step(f"{host.name}: files", lambda h=host: host_files(p, h, secrets))
    step("addresses by DHCP", lambda: gateway.wait_for_leases(p))
    # A smaller plan (a smoke run's) may leave a tier out.
    if plan.loadbalancers:
        step("load balancer pair: corosync, pacemaker, VIP", lambda: loadbalancer.apply(p, secrets))
    if plan.glusters:
        step("gluster: pool and replicated volume", lambda: gluster.apply(p))
