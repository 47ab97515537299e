"""The embedded local provider: every host of the plan as a systemd-nspawn container on
this machine, every subnet a bridge with no uplink, the outside a namespace of ours."""

from __future__ import annotations

import ipaddress
import os
import platform
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from provision import baseimage
from provision.errors import ProviderError
from provision.kube import binaries, images
from provision.providers.base import HostState, OutsideTarget, Provider, Result
from provision.providers.local import limits, sshproxy
from provision.providers.local.container import Bind, Container, Link
from provision.providers.local.outside import OUTSIDE_ADDRESS, OUTSIDE_NET, WAN_ADDRESS, Outside
from provision.roles.network import Uplink
from provision.system import links_with_prefix, remove_tree, sh
from provision.topology import WAN, Host, Plan

STATE_ROOT = Path("/var/lib/underhood")
TOOLS = {"systemd-nspawn": "systemd-container", "mmdebstrap": "mmdebstrap", "ip": "iproute2", "nsenter": "util-linux",
         "dnsmasq": "dnsmasq-base", "openssl": "openssl", "ssh-keygen": "openssh-client"}


#: Hosts that run containerd and kubelet.
KUBERNETES_ROLES = ("master", "worker")
#: Where a node sees the machine's cache of Kubernetes binaries and images.
KUBE_CACHE = "/opt/underhood"


def _compact(name: str) -> str:
    return name.replace("-", "")[:10]


class LocalProvider(Provider):
    name = "local"
    capabilities = frozenset({"nspawn", "real-daemons", "chaos", "power", "reach-isolated", "kubernetes", "dataplane"})
    #: The nodes see the machine's build cache through a read-only bind: nothing to upload.
    shares_build_cache = True

    def __init__(self, plan: Plan, log=print) -> None:
        # In this provider upstream DNS is our stub, never the documents' real resolvers.
        super().__init__(plan.with_upstream([OUTSIDE_ADDRESS]).with_image_repository(images.REPOSITORY).for_container_nodes())
        self.log = log
        self.prefix = plan.lab.prefix
        self.state = STATE_ROOT / plan.lab.name
        self.outside = Outside(f"{self.prefix}-outside", self.state / "outside")

    # -- naming -----------------------------------------------------------------------------
    def bridge(self, network: str) -> str:
        return f"{self.prefix}-{network}"

    def container(self, host: Host | str) -> Container:
        host = self.plan.host(host) if isinstance(host, str) else host
        links = [
            Link(f"{self.prefix}-{_compact(host.name)}{i}", nic.ifname, None if nic.network == WAN else self.bridge(nic.network))
            for i, nic in enumerate(host.nics)
        ]
        fuse = host.role in ("gluster", "master", "worker", "admin")
        directory = self.state / "hosts" / host.name
        node = host.role in KUBERNETES_ROLES
        binds = (
            # containerd's overlayfs snapshots cannot live on the host's overlay root.
            Bind(directory / "containerd", "/var/lib/containerd", readonly=False),
            Bind(directory / "kubelet", "/var/lib/kubelet", readonly=False),
            # The built binaries and images, shared read-only by every node.
            *([Bind(binaries.CACHE, KUBE_CACHE)] if self.shares_build_cache else []),
        ) if node else ()
        return Container(f"{self.prefix}-{host.name}", host.name, directory, self._image_path(), links, fuse, binds, node)

    def _image_path(self) -> Path:
        return baseimage.image_dir(self.plan)

    def _guarded_ranges(self) -> list[str]:
        return [str(self.plan.lab.cidr), str(OUTSIDE_NET), str(self.plan.lab.pod_cidr)]

    # -- prerequisites ----------------------------------------------------------------------
    def check_machine(self) -> None:
        if platform.system() != "Linux":
            raise ProviderError("the local provider needs Linux; use --provider vagrant (VirtualBox) elsewhere")
        if os.geteuid() != 0:
            raise ProviderError("the local provider needs root (namespaces, bridges, mounts): run as root, or use --provider vagrant")
        if "overlay" not in Path("/proc/filesystems").read_text():
            raise ProviderError("the kernel has no overlayfs (modprobe overlay), or use --provider vagrant")
        missing = sorted({pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None})
        if missing:
            self.log(f"installing {', '.join(missing)} with apt-get")
            res = sh("apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing, check=False, timeout=600)
            if res.returncode != 0:
                raise ProviderError(f"install them first: apt-get install {' '.join(missing)}")

    def check_ranges_are_free(self) -> None:
        """Refuse to build when this machine already uses a range the lab is about to guard:
        the guard would cut the machine off, and lab traffic could reach a real network."""
        guarded = [ipaddress.ip_network(c) for c in self._guarded_ranges()]
        routes = sh("ip", "-4", "-o", "route", "show", "table", "all").stdout.splitlines()
        addrs = sh("ip", "-4", "-o", "addr", "show").stdout.splitlines()
        resolvers = [ln.split()[1] for ln in Path("/etc/resolv.conf").read_text().splitlines() if ln.startswith("nameserver")]
        used = [r.split()[0] for r in routes if not r.startswith(("unreachable", "local ", "broadcast "))]
        used += [a.split()[3] for a in addrs] + resolvers
        for item in used:
            if item == "default":
                continue
            try:
                net = ipaddress.ip_network(item, strict=False)
            except ValueError:
                continue
            if net.version == 4 and not net.is_loopback and any(net.overlaps(g) for g in guarded):
                raise ProviderError(
                    f"this machine already uses {net}, inside a range of the lab ({', '.join(map(str, guarded))}): "
                    "change lab.cidr / lab.pod_cidr in the plan, or run the lab on another machine"
                )

    # -- networks ---------------------------------------------------------------------------
    def _networks_up(self) -> None:
        # Guard: nothing for a lab or outside address can leave through the real network.
        for cidr in self._guarded_ranges():
            sh("ip", "route", "replace", "unreachable", cidr)
        for network in self.plan.networks:
            br = self.bridge(network)
            if not Path(f"/sys/class/net/{br}").exists():
                sh("ip", "link", "add", "name", br, "type", "bridge")
            # No address, no forwarding on the machine's side: a switch, not a router.
            sh("sysctl", "-q", "-w", f"net.ipv4.conf.{br}.forwarding=0", check=False)
            sh("ip", "link", "set", "dev", br, "up")
        self.outside.state.mkdir(parents=True, exist_ok=True)
        self.outside.create()
        for what in limits.raise_limits(self.state):
            self.changed(what)

    # -- lifecycle --------------------------------------------------------------------------
    def up(self) -> None:
        from provision.providers.local.pipeline import Pipeline

        self.check_machine()
        self.check_ranges_are_free()
        self.claim()
        Pipeline(self).run()

    def built_by(self) -> str | None:
        """Which of the local providers built the lab on this machine (None: no lab)."""
        marker = self.state / "provider"
        return marker.read_text().strip() if marker.exists() else None

    def claim(self) -> None:
        """Both local providers build the same containers: one may not take over, or remove,
        a lab the other built (the ssh path's run would destroy a user's lab)."""
        other = self.built_by()
        if other not in (None, self.name):
            raise ProviderError(f"the lab {self.plan.lab.name} on this machine was built by the {other} provider: "
                                f"use --provider {other}, or remove it first with `python -m provision down --provider {other}`")
        self.state.mkdir(parents=True, exist_ok=True)
        (self.state / "provider").write_text(self.name + "\n")

    def boot_hosts(self, hosts: list[Host]) -> None:
        containers = [self.container(h) for h in hosts if not self.container(h).running()]
        for c in containers:
            c.prepare()
        for c in containers:
            c.boot()
            self.changed(f"{c.hostname}: booted")
        for c in containers:
            c.attach_links()
        with ThreadPoolExecutor(max_workers=len(containers) or 1) as pool:
            list(pool.map(lambda c: c.wait_booted(), containers))

    def down(self) -> None:
        self.log(f"removing the lab {self.plan.lab.name} (prefix {self.prefix}-)")
        hosts_dir = self.state / "hosts"
        known = [h.name for h in self.plan.hosts]
        # Every host of the plan, with or without a directory: an interrupted run may have
        # left a container whose directory is already gone.
        for name in known:
            self.container(name).destroy()
        for extra in hosts_dir.iterdir() if hosts_dir.exists() else []:
            remove_tree(extra)
        self.outside.delete()
        for link in links_with_prefix(f"{self.prefix}-"):
            sh("ip", "link", "delete", "dev", link, check=False)
        # Only now that every process of the lab has ended: the machine's own limits...
        limits.restore_limits(self.state)
        remove_tree(self.state)
        # ...and the guard routes.
        for cidr in self._guarded_ranges():
            sh("ip", "route", "del", "unreachable", cidr, check=False)

    def hosts(self) -> list[HostState]:
        out = []
        for h in self.plan.hosts:
            c = self.container(h)
            if not c.dir.exists():
                out.append(HostState(h.name, h.role, "absent", None))
                continue
            state = "running" if c.running() else "stopped"
            address = self.address(h, missing_ok=True) if state == "running" else None
            out.append(HostState(h.name, h.role, state, address))
        return out

    # -- management access: ssh into each host through its own network namespace -----------
    def ssh_key(self) -> Path:
        """The lab's management key (root on every host), made on first use."""
        key = self.state / "ssh" / "id_ed25519"
        if not key.exists():
            key.parent.mkdir(parents=True, exist_ok=True)
            sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{self.plan.lab.name}-management", "-f", str(key))
        return key

    def ssh_config(self) -> str:
        """`vagrant ssh-config` format. The ProxyCommand enters the host's network namespace,
        so nothing in this machine's own namespace ever addresses a lab address."""
        blocks = []
        for h in self.plan.hosts:
            c = self.container(h)
            blocks.append(
                f"Host {h.name}\n  HostName {h.name}\n  User root\n  Port 22\n  UserKnownHostsFile /dev/null\n"
                f"  StrictHostKeyChecking no\n  PasswordAuthentication no\n  IdentityFile {self.ssh_key()}\n"
                f"  IdentitiesOnly yes\n  LogLevel FATAL\n"
                f"  ProxyCommand {sys.executable} -I {sshproxy.__file__} {c.pidfile} {c.machine}\n"
            )
        return "\n".join(blocks)

    def connect_argv(self, host: str, address: str, port: int) -> list[str]:
        leader = self.container(host).leader()
        if leader is None:
            raise ProviderError(f"{host} is not running")
        return sshproxy.connect_argv(leader, address, port)

    def running(self, host: str) -> bool:
        return self.container(host).running()

    def hosts_are_containers(self) -> bool:
        return True

    def shell_argv(self, host: str, command: list[str]) -> list[str]:
        leader = self.container(host).leader()
        if leader is None:
            raise ProviderError(f"{host} is not running; start the lab with `python -m provision up`")
        return ["nsenter", "-t", str(leader), "-a", "--", *command]

    def stats_password(self) -> str | None:
        from provision.secrets import Secrets

        return Secrets.load_or_create(self.state / "secrets").haproxy_stats_password

    def outside_target(self) -> OutsideTarget:
        from provision.providers.local.outside import SERVICE_PORT, STUB_NAME

        return OutsideTarget(str(OUTSIDE_ADDRESS), SERVICE_PORT, STUB_NAME, str(WAN_ADDRESS), self.outside.state / "stub-dns.log")

    def run(self, host: str, argv: list[str], *, timeout: float = 60, input: str | None = None) -> Result:
        return self.container(host).run(argv, timeout=timeout, input=input)

    def write(self, host: str, path: str, content: str | bytes, mode: str = "0644") -> bool:
        # Straight into the container's root on this machine: no round trip per file.
        return self.container(host).write(path, content, mode)

    def exec_argv(self, host: str, argv: list[str]) -> list[str]:
        return self.shell_argv(host, argv)

    def shared_path(self, host: str, source: Path) -> str | None:
        h = self.plan.host(host)
        if not self.shares_build_cache or h.role not in KUBERNETES_ROLES or not source.is_relative_to(binaries.CACHE):
            return None
        return f"{KUBE_CACHE}/{source.relative_to(binaries.CACHE)}"

    def uplink(self) -> Uplink:
        return Uplink(f"{WAN_ADDRESS}/{OUTSIDE_NET.prefixlen}", str(OUTSIDE_ADDRESS))

    def attach_uplink(self) -> None:
        """The gateway's uplink into our outside namespace, and the services there."""
        gw = self.container(self.plan.gateway)
        wan = next(ln for ln, nic in zip(gw.links, self.plan.gateway.nics, strict=True) if nic.network == WAN)
        if self.outside.attach(wan.host_side):
            self.changed(f"outside: attached {wan.host_side}")
        if self.outside.start_services():
            self.changed("outside: started the stub resolver and service")

    def spawn(self, host: str, argv: list[str], output: Path) -> subprocess.Popen:
        leader = self.container(host).leader()
        if leader is None:
            raise ProviderError(f"{host} is not running")
        with open(output, "wb") as out:
            return subprocess.Popen(["nsenter", "-t", str(leader), "-a", "--", *argv], stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.DEVNULL, start_new_session=True)

    def poweroff(self, host: str) -> None:
        self.container(host).poweroff()

    def start(self, host: str) -> None:
        self.boot_hosts([self.plan.host(host)])
        if self.plan.host(host).role == "gateway":
            self.attach_uplink()

    def isolate(self, host: str) -> None:
        # Cut the switch port, not the host's interface (its routes survive the heal).
        for ln in self.container(host).links:
            if ln.bridge:
                sh("ip", "link", "set", "dev", ln.host_side, "down")

    def heal(self, host: str) -> None:
        for ln in self.container(host).links:
            if ln.bridge:
                sh("ip", "link", "set", "dev", ln.host_side, "up")


__all__ = ["WAN_ADDRESS", "LocalProvider"]
