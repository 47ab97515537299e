"""The provider contract: small, and knows nothing about Kubernetes."""

from __future__ import annotations

import abc
import subprocess
from dataclasses import dataclass
from pathlib import Path

from provision.topology import Plan
from provision.waiting import until


@dataclass(frozen=True)
class HostState:
    name: str
    role: str
    state: str  # "running", "stopped", "absent"
    address: str | None


@dataclass(frozen=True)
class OutsideTarget:
    """Something beyond the gateway's NAT that the suite may talk to (NET-05/06)."""

    address: str
    port: int
    #: A name the upstream resolver answers, and the address it answers with.
    name: str
    #: The source address the outside service should see (the gateway's uplink), if known.
    expected_source: str | None = None
    #: The upstream resolver's query log, where the provider can read it.
    stub_log: Path | None = None


@dataclass(frozen=True)
class Result:
    rc: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0


class Provider(abc.ABC):
    name: str
    #: What this provider can offer, so tests that need more skip with the reason.
    capabilities: frozenset[str] = frozenset()

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        #: What this run changed on the lab (empty on an `up` of a lab that is already right).
        self.changes: list[str] = []

    def changed(self, what: str) -> None:
        self.changes.append(what)

    def ensure_active(self, host: str, *units: str, enable: bool = True) -> None:
        """Start (and enable) units that are not active yet; a no-op when they are."""
        from provision.providers.local.steps import must

        for unit in units:
            if self.run(host, ["systemctl", "is-active", "--quiet", unit], timeout=20).ok:
                continue
            argv = ["systemctl", "enable", "--now", unit] if enable else ["systemctl", "start", unit]
            must(self.run(host, argv, timeout=120), f"{host}: start {unit}")
            self.changed(f"{host}: started {unit}")

    @abc.abstractmethod
    def up(self) -> None: ...

    @abc.abstractmethod
    def down(self) -> None: ...

    @abc.abstractmethod
    def hosts(self) -> list[HostState]: ...

    @abc.abstractmethod
    def run(self, host: str, argv: list[str], *, timeout: float = 60, input: str | None = None) -> Result: ...

    @abc.abstractmethod
    def running(self, host: str) -> bool: ...

    def is_up(self) -> bool:
        """Is there a lab to talk to (its gateway running)?"""
        return self.running(self.plan.gateway.name)

    def address(self, host) -> str | None:
        """A host's lab address as the host itself shows it (not the VIP)."""
        res = self.run(host.name, ["ip", "-4", "-o", "addr", "show", "dev", host.lab_nic.ifname], timeout=10)
        for line in res.stdout.splitlines():
            addr = line.split()[3].split("/")[0]
            if addr != str(self.plan.vip.address):
                return addr
        return None

    def management_nics(self, host) -> set[str]:
        """NICs the provider gives a host for its own use, which are not the plan's."""
        return set()

    def hosts_are_containers(self) -> bool:
        """Do the hosts run as containers (sharing the machine's kernel, CPUs, memory, disks)?"""
        res = self.run(self.plan.gateway.name, ["systemd-detect-virt", "--container"], timeout=15)
        return res.ok

    def stats_password(self) -> str | None:
        """HAProxy's stats password, where the provider knows it."""
        return None

    def outside_target(self) -> OutsideTarget | None:
        return None

    @abc.abstractmethod
    def poweroff(self, host: str) -> None: ...

    @abc.abstractmethod
    def start(self, host: str) -> None: ...

    @abc.abstractmethod
    def isolate(self, host: str) -> None: ...

    @abc.abstractmethod
    def heal(self, host: str) -> None: ...

    def spawn(self, host: str, argv: list[str], output: Path) -> subprocess.Popen:
        """Start a bounded program on a host in the background, its stdout to ``output``."""
        raise NotImplementedError(f"the {self.name} provider cannot run background programs")

    def connect_argv(self, host: str, address: str, port: int) -> list[str]:
        """A command whose stdin/stdout is a TCP stream to ``address:port`` as ``host`` sees
        it: how clients on this machine reach the lab (see provision.tunnel)."""
        raise NotImplementedError(f"the {self.name} provider cannot open a stream into the lab")

    def shell_argv(self, host: str, command: list[str]) -> list[str]:
        """The command line that runs ``command`` interactively on a host."""
        raise NotImplementedError(f"the {self.name} provider has no interactive shell")

    def kill(self, host: str, process: str) -> Result:
        """SIGKILL a service's processes on a host (systemd restarts it if its unit says so)."""
        return self.run(host, ["systemctl", "kill", "--signal=SIGKILL", process])

    def wait_for(self, what: str, check, timeout: float, interval: float = 0.2):
        """Poll ``check()`` until it returns something truthy; bounded in time."""
        return until(check, timeout, what, interval)
