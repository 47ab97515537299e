"""One lab host as a systemd-nspawn container: Debian with systemd as PID 1 on an overlay of
the shared base image, with its own machine-id, hostname and network namespace.

The machine has no systemd PID 1, hence no machined: nspawn runs with --register=no
--keep-unit from a cgroup of its own, and commands enter the container with nsenter."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from provision.errors import ProviderError
from provision.providers.base import Result
from provision.providers.local.sshproxy import init_pid, is_nspawn_of
from provision.system import mounts_under, remove_tree, sh
from provision.waiting import until

CGROUP_ROOT = Path("/sys/fs/cgroup")
#: PID 1 of a Kubernetes node (see kubernetes_node): written into the host before it boots.
NODE_INIT = "/usr/local/sbin/underhood-init"

#: What kubelet sets outside /proc/sys/net when protectKernelDefaults is off (its
#: setupKernelTunables), bind-mounted over /proc/sys in each node by NODE_INIT.
KUBELET_SYSCTLS = {"vm.overcommit_memory": 1, "vm.panic_on_oom": 0, "kernel.panic": 10, "kernel.panic_on_oops": 1,
                   "kernel.keys.root_maxkeys": 1000000, "kernel.keys.root_maxbytes": 25000000}


def hierarchies() -> list[str]:
    """Every cgroup hierarchy of this machine (v1 controllers, name=systemd, unified)."""
    return sorted(p.name for p in CGROUP_ROOT.iterdir() if p.is_dir() and (p / "cgroup.procs").exists())


@dataclass(frozen=True)
class Bind:
    source: Path  # on this machine
    target: str  # inside the host
    readonly: bool = True


@dataclass(frozen=True)
class Link:
    host_side: str  # in the machine's root namespace, enslaved to a bridge (or moved away)
    inside: str  # the interface name inside the container (the plan's ifname)
    bridge: str | None


class Container:
    def __init__(self, machine: str, hostname: str, directory: Path, image: Path, links: list[Link], fuse: bool,
                 binds: tuple[Bind, ...] = (), kubernetes_node: bool = False) -> None:
        self.machine = machine
        self.binds = binds
        #: A node that runs containerd and kubelet, as kind runs them inside Docker: every
        #: capability, the keyring syscalls runc needs, /dev/kmsg, and NODE_INIT as PID 1,
        #: which makes nspawn's read-only cgroup v1 mounts writable before systemd starts.
        self.kubernetes_node = kubernetes_node
        self.hostname = hostname
        self.dir = directory
        self.image = image
        self.links = links
        self.fuse = fuse
        self.root = directory / "root"
        self.pidfile = directory / "nspawn.pid"
        self.log = directory / "nspawn.log"

    # -- disk -------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Create the overlay (idempotent): identity first, before anything boots."""
        upper, work = self.dir / "upper", self.dir / "work"
        first = not upper.exists()
        for d in (upper, work, self.root):
            d.mkdir(parents=True, exist_ok=True)
        if first:
            (upper / "etc").mkdir(exist_ok=True)
            (upper / "etc/hostname").write_text(self.hostname + "\n")
            (upper / "etc/machine-id").write_text(uuid.uuid4().hex + "\n")
        if str(self.root.resolve()) not in mounts_under(self.root):
            sh("mount", "-t", "overlay", f"{self.machine}-ovl", "-o",
               f"lowerdir={self.image},upperdir={upper},workdir={work}", str(self.root))
        if self.kubernetes_node:
            self.write(NODE_INIT, (Path(__file__).parent / "node-init.sh").read_text(), "0755")
            for key, value in KUBELET_SYSCTLS.items():
                self.write(f"/etc/underhood/proc-sys/{key}", f"{value}\n")
        if first:
            # Own SSH host key per host (the base has none); ed25519 only, RSA takes seconds.
            keydir = upper / "etc/ssh"
            keydir.mkdir(parents=True, exist_ok=True)
            sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", self.hostname, "-f", str(keydir / "ssh_host_ed25519_key"))

    def write(self, path: str, content: str | bytes, mode: str = "0644") -> bool:
        """Write a file into the host; return True when it changed."""
        target = self.root / path.lstrip("/")
        data = content.encode() if isinstance(content, str) else content
        if target.exists() and target.read_bytes() == data and oct(target.stat().st_mode & 0o777)[2:] == mode.lstrip("0"):
            return False
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700 if target.parent.name == ".ssh" else 0o755)
        tmp = target.with_name(target.name + ".uh-new")
        tmp.write_bytes(data)
        tmp.chmod(int(mode, 8))
        tmp.replace(target)
        return True

    # -- lifecycle --------------------------------------------------------------------------
    def _is_ours(self, pid: int) -> bool:
        return is_nspawn_of(pid, self.machine)

    def nspawn_pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text())
        except (OSError, ValueError):
            pid = None
        if pid and self._is_ours(pid):
            return pid
        # An `up` killed between starting nspawn and recording it: find it by its machine name.
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit() and self._is_ours(int(proc.name)):
                return int(proc.name)
        return None

    def leader(self) -> int | None:
        pid = self.nspawn_pid()
        return None if pid is None else init_pid(pid)

    def running(self) -> bool:
        return self.leader() is not None

    def boot(self) -> None:
        if self.nspawn_pid():
            return
        argv = [
            "systemd-nspawn", "-D", str(self.root), f"--machine={self.machine}",
            "--register=no", "--keep-unit", "--private-network",
            "--console=passive", "--resolv-conf=off", "--timezone=off", "--link-journal=no",
        ]
        argv += [f"--network-veth-extra={ln.host_side}:{ln.inside}" for ln in self.links]
        if self.fuse:
            argv.append("--bind=/dev/fuse")
        for b in self.binds:
            b.source.mkdir(parents=True, exist_ok=True)
            argv.append(f"--bind{'-ro' if b.readonly else ''}={b.source}:{b.target}")
        if self.kubernetes_node:
            argv += ["--capability=all", "--system-call-filter=@keyring", "--bind=/dev/kmsg",
                     "--kill-signal=SIGRTMIN+3", NODE_INIT]
        else:
            argv.insert(1, "--boot")
        machine = self.machine
        pidfile = self.pidfile

        def own_cgroups() -> None:
            # --keep-unit makes the caller's cgroup the container's: give it its own in every
            # hierarchy, or the cgroups of a node's pods would land at the machine's root.
            os.setsid()
            for ctl in hierarchies():
                d = CGROUP_ROOT / ctl / f"{machine}.scope"
                d.mkdir(exist_ok=True)
                if ctl == "cpuset":  # a new cpuset is empty: no process may join it
                    for knob in ("cpuset.cpus", "cpuset.mems"):
                        (d / knob).write_text((CGROUP_ROOT / ctl / knob).read_text())
                (d / "cgroup.procs").write_text(str(os.getpid()))
            # Recorded before exec, so an interrupted `up` never leaves an unrecorded nspawn.
            pidfile.write_text(str(os.getpid()))

        with open(self.log, "ab") as log:
            subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, preexec_fn=own_cgroups)

    def attach_links(self, timeout: float = 10) -> None:
        """Enslave the host side of each veth to its bridge as soon as nspawn creates it."""
        pending = [ln for ln in self.links if ln.bridge]

        def attached() -> bool:
            for ln in list(pending):
                if Path(f"/sys/class/net/{ln.host_side}").exists():
                    sh("ip", "link", "set", "dev", ln.host_side, "master", ln.bridge, "up")
                    pending.remove(ln)
            return not pending

        until(attached, timeout, f"{self.hostname}'s links from nspawn (see {self.log})", interval=0.02)

    def wait_booted(self, timeout: float = 60) -> None:
        def booted() -> bool:
            return bool(self.leader()) and self.run(["systemctl", "is-system-running"], timeout=10).stdout.strip() in (
                "running", "degraded")

        until(booted, timeout, f"{self.hostname} to boot (see {self.log})", interval=0.1)

    def run(self, argv: list[str], *, timeout: float = 60, input: str | None = None) -> Result:
        leader = self.leader()
        if leader is None:
            return Result(255, "", f"{self.hostname} is not running")
        try:
            res = subprocess.run(["nsenter", "-t", str(leader), "-a", "--", *argv], capture_output=True, text=True,
                                 timeout=timeout, input=input)
        except subprocess.TimeoutExpired:
            return Result(124, "", f"timed out after {timeout} s: {' '.join(argv)}")
        return Result(res.returncode, res.stdout, res.stderr)

    def poweroff(self) -> None:
        """Hard power-off: SIGKILL the container's PID 1 (never nspawn, which would orphan it)."""
        leader = self.leader()
        if leader:
            os.kill(leader, signal.SIGKILL)
        self._wait_nspawn_exit(15)

    def _wait_nspawn_exit(self, timeout: float) -> None:
        pid = self.nspawn_pid()
        try:
            until(lambda: not self.nspawn_pid(), timeout if pid else 0, f"{self.machine}'s nspawn to exit", interval=0.05)
        except ProviderError:
            os.kill(pid, signal.SIGKILL)  # started by us: its PID is in our pidfile
        self.pidfile.unlink(missing_ok=True)
        self._cleanup_runtime()

    def _cleanup_runtime(self) -> None:
        # nspawn leaves these behind where /run is not a tmpfs (the notes' pitfall 4).
        remove_tree(Path("/run/systemd/nspawn/propagate") / self.machine)
        for ctl in hierarchies():
            scope = CGROUP_ROOT / ctl / f"{self.machine}.scope"
            if scope.is_dir():
                for d in sorted((p for p in scope.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
                    try:
                        d.rmdir()
                    except OSError:
                        pass
                try:
                    scope.rmdir()
                except OSError:
                    pass

    def destroy(self) -> None:
        self.poweroff()
        remove_tree(self.dir)
