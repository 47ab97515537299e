"""The local provider's containers converged the way VMs are: booted bare (sshd and the
management key, all a Vagrant box brings), then made into the lab only over ssh, by the
generic step library in its ssh ordering (provision.steps.converge), with the Kubernetes
binaries and images uploaded rather than shared. It proves on every change, without VMs, the
path the vagrant provider and any ssh host take."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from provision.errors import ProviderError
from provision.providers.base import Provider, Result
from provision.providers.local import LocalProvider
from provision.providers.ssh import Ssh
from provision.steps import converge
from provision.topology import Host, Plan

#: How long a bare container may take from boot to answering over ssh (measured: 77 s for
#: thirteen at once on an otherwise idle 2-core machine).
SSH_READY_S = 240
SSH_UNIT = "/lib/systemd/system/ssh.service"


class LocalSshProvider(LocalProvider):
    name = "local-ssh"
    # Everything a node runs arrives by upload, as on a VM.
    shares_build_cache = False

    def __init__(self, plan: Plan, log=print) -> None:
        super().__init__(plan, log)
        self.ssh = Ssh(self.state / "ssh-config")

    def up(self) -> None:
        self.check_machine()
        self.check_ranges_are_free()
        self.claim()
        step = converge.Steps(self)
        step("networks", self._networks_up)
        step(f"boot {len(self.plan.hosts)} bare hosts (sshd and the management key)", lambda: self.boot_bare(self.plan.hosts))
        step("gateway uplink: our outside namespace", self.attach_uplink)
        converge.converge(self)

    def boot_bare(self, hosts: list[Host]) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        (self.state / "ssh-config").write_text(self.ssh_config())
        key = self.ssh_key().with_suffix(".pub").read_text()
        todo = [self.container(h) for h in hosts if not self.container(h).running()]
        for c in todo:
            c.prepare()
            # What a box is made with: its key for the management user, sshd enabled.
            c.write("/root/.ssh/authorized_keys", key, "0600")
            wants = c.root / "etc/systemd/system/multi-user.target.wants/ssh.service"
            if not wants.is_symlink():
                wants.parent.mkdir(parents=True, exist_ok=True)
                wants.symlink_to(SSH_UNIT)
            c.boot()
            self.changed(f"{c.hostname}: booted bare")
        for c in todo:
            c.attach_links()

        def ready(h: Host) -> None:
            # sshd listening first, seen from this machine in the host's namespace: each ssh
            # attempt starts a Python ProxyCommand, and thirteen hosts retrying that twice a
            # second kept a loaded 2-core machine too busy for their sshd to start (a CI-like
            # run timed out so). Then one ssh, which proves the key.
            self.wait_for(f"sshd listening on {h.name}", lambda: self.sshd_listening(h), SSH_READY_S, 0.5)
            self.wait_for(f"{h.name} answering over ssh", lambda: self.run(h.name, ["true"], timeout=15).ok, SSH_READY_S, 2)

        with ThreadPoolExecutor(max_workers=len(hosts) or 1) as pool:
            list(pool.map(ready, hosts))

    def sshd_listening(self, host: Host) -> bool:
        """Something listens on port 22 in the host's network namespace (this machine's ss)."""
        leader = self.container(host).leader()
        if leader is None:
            return False
        res = subprocess.run(["nsenter", "-t", str(leader), "-n", "--", "ss", "-Hltn", "sport = :22"],
                             capture_output=True, text=True, timeout=10, check=False)
        return res.returncode == 0 and bool(res.stdout.strip())

    def down(self) -> None:
        other = self.built_by()
        if other not in (None, self.name):
            raise ProviderError(f"the lab {self.plan.lab.name} was built by the {other} provider; it is left alone "
                                f"(remove it with `python -m provision down --provider {other}`)")
        # The connections ssh keeps open for reuse end before their hosts do.
        config = self.state / "ssh-config"
        if config.exists():
            for h in self.plan.hosts:
                subprocess.run(self.ssh.stop_argv(h.name), capture_output=True, timeout=30, check=False)
        super().down()

    # -- on a host: ssh only ----------------------------------------------------------------------
    def run(self, host: str, argv: list[str], *, timeout: float = 60, input: str | None = None) -> Result:
        return self.ssh.run(host, argv, timeout=timeout, input=input)

    # Through run, as on any ssh host; no container root.
    write = Provider.write

    def exec_argv(self, host: str, argv: list[str]) -> list[str]:
        return self.ssh.command(host, argv)

    def spawn(self, host: str, argv: list[str], output: Path) -> subprocess.Popen:
        return self.ssh.spawn(host, argv, output)
