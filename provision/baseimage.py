"""The base image: Debian from Debian's packages (mmdebstrap), shared read-only by every host.

Cached under a content hash of the package list, so it is rebuilt only when that changes.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from provision.errors import ProviderError
from provision.roles import kubernetes
from provision.system import remove_tree
from provision.topology import Plan

CACHE = Path("/var/cache/underhood/images")

#: What every lab host needs besides the plan's packages: systemd as PID 1, networkd's DHCP
#: client, and the tools the roles and the conformance suite call.
SYSTEM_PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "libpam-systemd", "iproute2", "iputils-ping", "procps",
    "python3", "netcat-openbsd", "ca-certificates", "openssl", "dnsutils", "fuse3", "kmod",
    "iptables", "curl", "systemd-resolved", "openssh-server",
)
#: Plan packages that have no use in a container and slow its boot or build, and why.
SKIPPED_IN_CONTAINERS = {"cloud-init": "they have no cloud datasource", "ntpsec": "they share the machine's clock"}

#: Debian enables these at install; no service may start in the base (own ids, own data).
DISABLE = ("containerd", "corosync", "pacemaker", "etcd", "haproxy", "dnsmasq", "glusterd", "logd", "e2scrub_reap",
           "ssh", "systemd-timesyncd", "apt-daily.timer", "apt-daily-upgrade.timer")


def packages(plan: Plan) -> list[str]:
    wanted = set(SYSTEM_PACKAGES) | set(plan.all_packages()) | set(kubernetes.PACKAGES)
    return sorted(wanted - set(SKIPPED_IN_CONTAINERS))


#: Bump when _prepare changes what it does, so cached images are rebuilt.
RECIPE = "2"


def image_dir(plan: Plan) -> Path:
    key = hashlib.sha256(("\n".join([RECIPE, plan.versions.debian, *packages(plan)])).encode()).hexdigest()[:12]
    return CACHE / f"{plan.versions.debian}-{key}"


def ensure(plan: Plan, log=print) -> Path:
    """Return the cached image for the plan, building it first when it is missing."""
    target = image_dir(plan)
    if (target / ".complete").exists():
        return target
    partial = target.with_name(target.name + ".partial")
    log(f"building the base image {target.name} ({len(packages(plan))} packages) with mmdebstrap")
    mmdebstrap(plan.versions.debian, partial, packages(plan))
    _prepare(partial)
    partial.rename(target)
    (target / ".complete").touch()
    _remove_stale(target)
    return target


#: Debian's archive, whose packages (and sources) every Debian part of the lab comes from.
MIRROR = "http://deb.debian.org/debian"


def mmdebstrap(suite: str, target: Path, include: list[str]) -> None:
    """Debian ``suite`` with ``include`` made into ``target`` (removed first: a killed build
    can leave /proc and /sys mounted inside)."""
    if shutil.which("mmdebstrap") is None:
        raise ProviderError("mmdebstrap is missing: apt-get install mmdebstrap")
    remove_tree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(mmdebstrap_argv(suite, target, include), capture_output=True, text=True)
    if res.returncode != 0:
        raise ProviderError(f"mmdebstrap of {', '.join(include[:5])}{' ...' if len(include) > 5 else ''} failed "
                            f"({res.returncode}): {res.stderr.strip()[-2000:]}")


def mmdebstrap_argv(suite: str, target: Path, include: list[str]) -> list[str]:
    """Debian ``suite`` with ``include`` into ``target``, from Debian's mirrors, without docs."""
    return [
        "mmdebstrap", "--variant=minbase", "--quiet", f"--include={','.join(include)}", "--components=main",
        "--dpkgopt=path-exclude=/usr/share/doc/*", "--dpkgopt=path-exclude=/usr/share/man/*",
        "--dpkgopt=path-exclude=/usr/share/locale/*",
        suite, str(target),
        f"deb {MIRROR} {suite} main",
        f"deb {MIRROR} {suite}-updates main",
        f"deb http://deb.debian.org/debian-security {suite}-security main",
    ]


def _remove_stale(keep: Path) -> None:
    """Drop older images that no overlay uses any more (each is ~400 MB)."""
    in_use = Path("/proc/self/mounts").read_text()
    for old in keep.parent.iterdir():
        if old != keep and not old.name.endswith(".partial") and f"lowerdir={old}" not in in_use:
            remove_tree(old)


def _prepare(root: Path) -> None:
    """Make the tree a neutral base: no identity, no enabled daemons."""
    subprocess.run(["systemctl", f"--root={root}", "disable", *DISABLE], capture_output=True)
    subprocess.run(["systemctl", f"--root={root}", "enable", "systemd-networkd"], check=True, capture_output=True)
    # network-online.target waits for the DHCP lease (wait-online), so daemons that bind
    # their lab address (etcd, corosync) start after it, also when a host is restarted.
    subprocess.run(["systemctl", f"--root={root}", "enable", "systemd-networkd-wait-online.service"], capture_output=True)
    for key in root.glob("etc/ssh/ssh_host_*"):
        key.unlink()
    (root / "etc/machine-id").write_text("")
    journald = root / "etc/systemd/journald.conf.d"
    journald.mkdir(parents=True, exist_ok=True)
    # The journal in memory: no 8 MB preallocation per boot in every overlay.
    (journald / "underhood.conf").write_text("[Journal]\nStorage=volatile\nRuntimeMaxUse=16M\n")
