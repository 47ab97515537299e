"""A booted host made what its role says, over the provider's `run` and `write` alone: its
packages (where they are missing), its network and role files, and what those files need
applied at once. How VMs and any host reached over ssh are converged."""

from __future__ import annotations

from provision import baseimage, roles
from provision.errors import ProviderError
from provision.render import File
from provision.roles import kubernetes, network
from provision.secrets import Secrets
from provision.topology import WAN, Host

APT_TIMEOUT_S = 1800

#: Files systemd applies at boot only; the roles write them after this boot (K8S-01's module
#: and sysctls on Kubernetes nodes), so they are applied at once as well.
BOOT_APPLIED = {"/etc/modules-load.d/": "systemd-modules-load.service", "/etc/sysctl.d/": "systemd-sysctl.service"}


def wanted_packages(p, host: Host) -> tuple[str, ...]:
    """The documents' packages for the host (their carriers in the plan's Debian), the
    container runtime on Kubernetes nodes; not those containers have no use for."""
    names = [*p.plan.base_packages, *p.plan.role_packages(host.role)]
    wanted = set(p.plan.debian_packages(names))
    if host.role in ("master", "worker"):
        wanted |= set(kubernetes.PACKAGES)
    if p.hosts_are_containers():
        wanted -= set(baseimage.SKIPPED_IN_CONTAINERS)
    return tuple(sorted(wanted))


def installed(status: str) -> set[str]:
    """Packages dpkg-query's ``${Package} ${Status}`` lines show installed."""
    return {line.split()[0] for line in status.splitlines() if line.endswith("install ok installed")}


def packages(p, host: Host) -> None:
    """What is missing, from Debian's mirrors (a VM's own NAT NIC: the lab NICs have no route
    out before the gateway is up). One query for all: nothing to install, no apt."""
    wanted = wanted_packages(p, host)
    res = p.run(host.name, ["dpkg-query", "-W", "-f=${Package} ${Status}\n", *wanted], timeout=60)
    if res.rc not in (0, 1):  # 1: some package unknown to dpkg, still an answer
        raise ProviderError(f"{host.name}: asking dpkg which packages are installed failed ({res.rc}): {res.stderr.strip()[-400:]}")
    missing = [pkg for pkg in wanted if pkg not in installed(res.stdout)]
    if not missing:
        return
    script = ("export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && "
              f"apt-get install -y -qq --no-install-recommends {' '.join(missing)}")
    res = p.run(host.name, ["sh", "-c", script], timeout=APT_TIMEOUT_S)
    if not res.ok:
        raise ProviderError(f"{host.name}: installing {', '.join(missing)} failed ({res.rc}): "
                            f"{(res.stderr.strip() or res.stdout.strip())[-800:]}")
    p.changed(f"{host.name}: installed {', '.join(missing)}")


def network_files(p, host: Host) -> list[File]:
    """systemd-networkd for the lab NICs; the gateway's uplink as the provider gives it."""
    return network.files(p.plan, host, p.uplink())


def apply_boot_files(p, host: Host, files: list[File]) -> None:
    units = sorted({unit for f in files for prefix, unit in BOOT_APPLIED.items() if f.path.startswith(prefix)})
    if units:
        res = p.run(host.name, ["systemctl", "restart", *units], timeout=60)
        if not res.ok:
            raise ProviderError(f"{host.name}: applying {', '.join(units)} failed: {res.stderr.strip()}")


def resolver(p, host: Host) -> None:
    """The gateway resolves through its own dnsmasq, with no resolved beside it; every other
    host through resolved, which takes its servers and search domain from the lease."""
    if host.role == "gateway":
        if p.run(host.name, ["systemctl", "is-enabled", "systemd-resolved"], timeout=20).stdout.strip() != "masked":
            p.run(host.name, ["systemctl", "mask", "--now", "systemd-resolved"], timeout=60)
            p.changed(f"{host.name}: masked systemd-resolved")
        return
    stub = "/run/systemd/resolve/stub-resolv.conf"
    if p.run(host.name, ["readlink", "/etc/resolv.conf"], timeout=20).stdout.strip() != stub:
        res = p.run(host.name, ["ln", "-sfn", stub, "/etc/resolv.conf"], timeout=20)
        if not res.ok:
            raise ProviderError(f"{host.name}: linking /etc/resolv.conf failed: {res.stderr.strip()}")
        p.changed(f"{host.name}: linked resolv.conf")
    p.ensure_active(host.name, "systemd-resolved")


def host_files(p, host: Host, secrets: Secrets) -> None:
    p.name_lab_nics(host)
    files = [*network_files(p, host), *roles.files_for(p.plan, host, secrets)]
    before = len(p.changes)
    network_changed = False
    for f in files:
        if p.write(host.name, f.path, f.content, f.mode):
            p.changed(f"{host.name}: wrote {f.path}")
            network_changed |= f.path.startswith("/etc/systemd/network/")
    apply_boot_files(p, host, files)
    resolver(p, host)
    p.ensure_active(host.name, "systemd-networkd")
    renamed = any(c.startswith(f"{host.name}: renamed") for c in p.changes[before:])
    if network_changed or renamed:
        # networkd reads its files again; a link it failed on (renamed under it) stays
        # failed until told again
        lab = [n.ifname for n in host.nics if n.network != WAN]
        res = p.run(host.name, ["sh", "-c", f"networkctl reload && networkctl reconfigure {' '.join(lab)}"], timeout=60)
        if not res.ok:
            raise ProviderError(f"{host.name}: networkd did not take its new files: {(res.stderr or res.stdout).strip()[-400:]}")
