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
from provision.vagrant_data import adapter_of

APT_TIMEOUT_S = 1800


def packages(p, host: Host) -> None:
    """The documents' image packages and the role's (their carriers in the plan's Debian),
    from Debian's mirrors, through Vagrant's NAT NIC (the lab NICs have no route out before
    the gateway is up)."""
    wanted = p.plan.debian_packages([*p.plan.base_packages, *p.plan.role_packages(host.role)])
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


#: Each NIC with a PCI device, as "name mac device-path" lines.
LIST_NICS = ('for i in /sys/class/net/*; do [ -e "$i/device" ] && '
             'echo "${i##*/} $(cat "$i/address") $(readlink -f "$i/device")"; done; true')


def nic_names(listing: str, host: Host) -> list[tuple[str, str, str]]:
    """(current name, MAC, the plan's name) for each lab NIC: NICs in PCI order are Vagrant's
    management NIC first, then the lab's in adapter order, on VirtualBox and libvirt alike."""
    nics = sorted((line.split() for line in listing.splitlines() if len(line.split()) == 3), key=lambda c: c[2])
    lab = [n.ifname for n in sorted(host.nics, key=lambda n: adapter_of(n.ifname)) if n.network != WAN]
    if len(nics) != len(lab) + 1:
        raise ProviderError(f"{host.name} has {len(nics)} NICs; the plan gives it {len(lab)} lab NICs besides Vagrant's own")
    return [(name, mac, want) for (name, mac, _), want in zip(nics[1:], lab, strict=True)]


def lab_nic_names(p, host: Host) -> None:
    """Give the lab NICs the plan's names (the documents' VirtualBox names): a .link file for
    every boot, and at once for this one (a lab NIC carries no ssh session)."""
    listing = p.run(host.name, ["sh", "-c", LIST_NICS], timeout=30).stdout
    for name, mac, want in nic_names(listing, host):
        if p.write(host.name, f"/etc/systemd/network/10-{want}.link", f"[Match]\nMACAddress={mac}\n\n[Link]\nName={want}\n"):
            p.changed(f"{host.name}: {want} by MAC {mac}")
        if name != want:
            # udev gives NICs their predictable names as altnames; one may already be ours
            script = (f'for d in /sys/class/net/*; do ip link property del dev "${{d##*/}}" altname {want} 2>/dev/null; done; '
                      f"ip link set dev {name} down && ip link set dev {name} name {want} && ip link set dev {want} up")
            res = p.run(host.name, ["sh", "-c", script], timeout=30)
            if not res.ok:
                raise ProviderError(f"{host.name}: renaming {name} to {want} failed: {res.stderr.strip()}")
            p.changed(f"{host.name}: renamed {name} to {want}")


#: Files systemd applies at boot only; the roles write them after this boot (K8S-01's module
#: and sysctls on Kubernetes nodes), so they are applied at once as well.
BOOT_APPLIED = {"/etc/modules-load.d/": "systemd-modules-load.service", "/etc/sysctl.d/": "systemd-sysctl.service"}


def apply_boot_files(p, host: Host, files: list[File]) -> None:
    units = sorted({unit for f in files for prefix, unit in BOOT_APPLIED.items() if f.path.startswith(prefix)})
    if units:
        res = p.run(host.name, ["systemctl", "restart", *units], timeout=60)
        if not res.ok:
            raise ProviderError(f"{host.name}: applying {', '.join(units)} failed: {res.stderr.strip()}")


def host_files(p, host: Host, secrets: Secrets) -> None:
    lab_nic_names(p, host)
    files = [*network_files(p, host), *roles.files_for(p.plan, host, secrets)]
    for f in files:
        if p.write(host.name, f.path, f.content, f.mode):
            p.changed(f"{host.name}: wrote {f.path}")
    apply_boot_files(p, host, files)
    if host.role == "gateway" and p.run(host.name, ["systemctl", "is-enabled", "systemd-resolved"], timeout=20).stdout.strip() != "masked":
        # the gateway resolves through its own dnsmasq, with no resolved beside it
        p.run(host.name, ["systemctl", "mask", "--now", "systemd-resolved"], timeout=60)
        p.changed(f"{host.name}: masked systemd-resolved")
    p.ensure_active(host.name, "systemd-networkd")
    if any(c.startswith((f"{host.name}: wrote /etc/systemd/network/", f"{host.name}: renamed")) for c in p.changes):
        # a link networkd failed on (renamed under it) stays failed until told again
        lab = [n.ifname for n in host.nics if n.network != WAN]
        p.run(host.name, ["sh", "-c", f"networkctl reload && networkctl reconfigure {' '.join(lab)}"], timeout=60)


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
