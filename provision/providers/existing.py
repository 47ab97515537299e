"""The existing-lab provider: a lab someone already built, reached over ssh. It never
builds or removes anything; chaos only with --allow-chaos, and every fault has a way back
that does not depend on the faulted host."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

from provision.errors import ProviderError
from provision.providers.base import HostState, OutsideTarget, Provider, Result
from provision.providers.inventory import Inventory, safe_unit
from provision.providers.ssh import Ssh
from provision.topology import Plan

#: An isolated host heals itself after this long, even if nobody can reach it any more.
AUTO_HEAL_S = 30


class ExistingProvider(Provider):
    name = "existing"

    def __init__(self, plan: Plan, inventory: Inventory, allow_chaos: bool = False) -> None:
        super().__init__(plan)
        self.inventory = inventory
        self.ssh = Ssh(inventory.ssh_config)
        # Tests that need the cluster skip by themselves when the lab has none (no admin.conf).
        caps: set[str] = {"kubernetes"}
        if allow_chaos:
            caps.add("chaos")
            if all(h.name in inventory.power for h in plan.hosts):
                caps.add("power")
        self.capabilities = frozenset(caps)

    def check_reachable(self) -> None:
        """One line per host that does not answer, before any test runs."""
        problems = []
        for h in self.plan.hosts:
            res = self.run(h.name, ["true"], timeout=20)
            if not res.ok:
                problems.append(f"{self.inventory.path}: {h.name}: unreachable over ssh ({res.stderr.strip() or res.rc})")
        if problems:
            raise ProviderError("the inventory's hosts do not all answer:\n" + "\n".join(problems))

    # -- the contract -----------------------------------------------------------------------
    def up(self) -> None:
        raise ProviderError("the existing provider only connects to a lab you built; it creates nothing (use --provider local)")

    def down(self) -> None:
        raise ProviderError("the existing provider only connects to a lab you built; it removes nothing")

    def run(self, host: str, argv: list[str], *, timeout: float = 60, input: str | None = None) -> Result:
        return self.ssh.run(host, argv, timeout=timeout, input=input)

    def write(self, host: str, path: str, content: str | bytes, mode: str = "0644") -> bool:
        # The contract's generic write would work over ssh: refused, this lab is not ours.
        raise ProviderError(f"the existing provider never writes to a lab ({host}:{path}); "
                            "`python -m provision diff` says what the lab lacks without changing it")

    def upload(self, host: str, source: Path, dest: str, mode: str = "0644") -> bool:
        raise ProviderError(f"the existing provider never writes to a lab ({host}:{dest})")

    def connect_argv(self, host: str, address: str, port: int) -> list[str]:
        return self.ssh.connect_argv(host, address, port)

    def spawn(self, host: str, argv: list[str], output: Path) -> subprocess.Popen:
        return self.ssh.spawn(host, argv, output)

    @functools.cache  # noqa: B019 (one provider per run)
    def hosts_are_containers(self) -> bool:
        return super().hosts_are_containers()

    def shell_argv(self, host: str, command: list[str]) -> list[str]:
        return self.ssh.shell_argv(host, command)

    def running(self, host: str) -> bool:
        return self.run(host, ["true"], timeout=15).ok

    def hosts(self) -> list[HostState]:
        out = []
        for h in self.plan.hosts:
            up = self.running(h.name)
            out.append(HostState(h.name, h.role, "running" if up else "unreachable", self.address(h, missing_ok=True) if up else None))
        return out

    def stats_password(self) -> str | None:
        return self.inventory.haproxy_stats_password

    def outside_target(self) -> OutsideTarget | None:
        o = self.inventory.outside
        return OutsideTarget(str(o["address"]), int(o["port"]), o["name"], o.get("source")) if o else None

    # -- faults: only with --allow-chaos, each with a way back ---------------------------------
    def _chaos(self, what: str) -> None:
        if "chaos" not in self.capabilities:
            raise ProviderError(f"{what}: chaos on an existing lab needs --allow-chaos")

    def _power(self, host: str, which: str) -> None:
        self._chaos(f"{which} {host}")
        cmds = self.inventory.power.get(host)
        if cmds is None:
            raise ProviderError(f"{which} {host}: give power.{host}.poweroff/poweron commands in the inventory")
        res = subprocess.run(getattr(cmds, which), shell=True, capture_output=True, text=True, timeout=300)
        if res.returncode != 0:
            raise ProviderError(f"{which} {host}: `{getattr(cmds, which)}` failed: {res.stderr.strip()}")

    def poweroff(self, host: str) -> None:
        self._power(host, "poweroff")

    def start(self, host: str) -> None:
        self._power(host, "poweron")
        self.wait_for(f"{host} answering over ssh", lambda: self.running(host), 300, 1.0)

    def kill(self, host: str, process: str) -> Result:
        self._chaos(f"kill {process} on {host}")
        return super().kill(host, process)

    def isolate(self, host: str) -> None:
        """Cut the host's lab link; a transient timer on the host heals it by itself."""
        self._chaos(f"isolate {host}")
        ifname = self.plan.host(host).lab_nic.ifname
        unit = safe_unit(f"underhood-heal-{ifname}")
        script = (f"systemd-run --unit={unit} --on-active={AUTO_HEAL_S}s ip link set dev {ifname} up && "
                  f"(sleep 1; ip link set dev {ifname} down) >/dev/null 2>&1 &")
        res = self.run(host, ["sh", "-c", script], timeout=20)
        if not res.ok:
            raise ProviderError(f"isolate {host}: {res.stderr.strip()}")

        def cut() -> bool:
            state = self.run(host, ["cat", f"/sys/class/net/{ifname}/operstate"], timeout=10)
            return not state.ok or state.stdout.strip() == "down"  # unreachable is cut too

        self.wait_for(f"{host}'s link down", cut, 20)

    def heal(self, host: str) -> None:
        ifname = self.plan.host(host).lab_nic.ifname
        if self.run(host, ["ip", "link", "set", "dev", ifname, "up"], timeout=10).ok:
            return
        self.wait_for(f"{host} healing itself (timer)", lambda: self.running(host), AUTO_HEAL_S + 60, 1.0)
