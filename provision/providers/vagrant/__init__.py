"""The vagrant provider: the plan's hosts as VMs (VirtualBox, or libvirt through
vagrant-libvirt), created by the Vagrantfile, then made what the documents say by the same
roles and steps as the local provider, over ssh (`vagrant ssh-config`)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from provision.errors import ProviderError
from provision.kube import images
from provision.providers.base import HostState, Provider, Result
from provision.providers.ssh import Ssh
from provision.providers.vagrant import nics, prereqs, vboxmanage, virsh
from provision.providers.vagrant.machines import ROOT, Machines
from provision.steps.converge import converge
from provision.topology import Plan
from provision.vagrant_data import VIRTUALBOX_IFNAMES, intnet

#: Vagrant's own variable for the hypervisor; VirtualBox unless it says libvirt.
HYPERVISORS = ("virtualbox", "libvirt")


def hypervisor() -> str:
    name = os.environ.get("VAGRANT_DEFAULT_PROVIDER") or "virtualbox"
    if name not in HYPERVISORS:
        raise ProviderError(f"VAGRANT_DEFAULT_PROVIDER={name}: underhood's Vagrantfile knows {' and '.join(HYPERVISORS)}")
    return name


class VagrantProvider(Provider):
    name = "vagrant"
    capabilities = frozenset({"vms", "real-daemons", "chaos", "power", "reach-isolated", "kubernetes"})

    def __init__(self, plan: Plan, plan_file: Path | None = None) -> None:
        # The nodes run the lab's own build of Kubernetes' images, uploaded: nothing is pulled.
        super().__init__(plan.with_image_repository(images.REPOSITORY))
        self.hypervisor = hypervisor()
        self.plan_file = plan_file
        self.state = ROOT / ".vagrant" / "underhood" / plan.lab.name
        self.ssh = Ssh(self.state / "ssh-config", sudo=True, patience=plan.vagrant.slowdown)

    def _machines(self) -> Machines:
        try:
            return Machines(self.hypervisor, self.plan_file)
        except ImportError:
            raise ProviderError("python-vagrant is not installed: `pip install -e .` (or run through tox)") from None

    # -- lifecycle --------------------------------------------------------------------------
    def up(self) -> None:
        prereqs.check(self.plan, self.hypervisor)
        machines = self._machines()
        # One `vagrant up` in the documents' order: the gateway first.
        machines.up([h.name for h in self.plan.hosts])
        self.write_ssh_config(machines)
        converge(self)

    def write_ssh_config(self, machines: Machines) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        text = "\n".join(machines.ssh_config(h.name) for h in self.plan.hosts)
        (self.state / "ssh-config").write_text(text)

    def down(self) -> None:
        """`vagrant destroy -f`: the VMs, their disks (the Gluster store disks are the VMs'
        own) and, on libvirt, the networks vagrant-libvirt made for them."""
        if not shutil.which("vagrant"):
            raise ProviderError("vagrant is not on PATH: nothing to destroy with; remove the VMs named "
                                f"{self.plan.lab.prefix}-* in your hypervisor by hand")
        self._machines().destroy()
        for disk in (ROOT / ".vagrant").glob(f"{self.plan.lab.prefix}-*-store.vdi"):
            res = subprocess.run(["VBoxManage", "closemedium", "disk", str(disk), "--delete"], capture_output=True, text=True,
                                 timeout=120, check=False)
            if res.returncode != 0 and disk.exists():
                disk.unlink()
        (self.state / "ssh-config").unlink(missing_ok=True)

    def hosts(self) -> list[HostState]:
        states = self._machines().states()
        out = []
        for h in self.plan.hosts:
            state = states.get(h.name, "not_created")
            up = state == "running"
            out.append(HostState(h.name, h.role, "running" if up else "absent" if state == "not_created" else "stopped",
                                 self.address(h, missing_ok=True) if up else None))
        return out

    def management_nics(self, host) -> set[str]:
        # NIC 1 is Vagrant's (the box names it as VirtualBox does); only the gateway's plan
        # has it, as its uplink.
        nic1 = VIRTUALBOX_IFNAMES[1]
        return set() if any(n.ifname == nic1 for n in host.nics) else {nic1}

    def running(self, host: str) -> bool:
        return (self.state / "ssh-config").exists() and self.run(host, ["true"], timeout=15).ok

    # -- on a host ----------------------------------------------------------------------------
    def run(self, host: str, argv: list[str], *, timeout: float = 60, input: str | None = None) -> Result:
        return self.ssh.run(host, argv, timeout=timeout, input=input)

    @property
    def wait_scale(self) -> float:
        """As the base's: the plan's ``vagrant.slowdown``, which ssh's own waits for a silent
        VM follow too."""
        return self.ssh.patience

    def exec_argv(self, host: str, argv: list[str]) -> list[str]:
        return self.ssh.command(host, argv)

    def name_lab_nics(self, host) -> None:
        nics.lab_nic_names(self, host)

    def spawn(self, host: str, argv: list[str], output: Path) -> subprocess.Popen:
        return self.ssh.spawn(host, argv, output)

    def connect_argv(self, host: str, address: str, port: int) -> list[str]:
        return self.ssh.connect_argv(host, address, port)

    def shell_argv(self, host: str, command: list[str]) -> list[str]:
        return self.ssh.shell_argv(host, command)

    def stats_password(self) -> str | None:
        from provision.secrets import Secrets

        return Secrets.load_or_create(self.state / "secrets").haproxy_stats_password

    # -- faults: the hypervisor's, never the guest's ---------------------------------------------
    def _hv(self, argv: list[str], what: str) -> None:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        if res.returncode != 0:
            raise ProviderError(f"{what}: `{' '.join(argv)}` failed: {res.stderr.strip()}")

    def poweroff(self, host: str) -> None:
        h = self.plan.host(host)
        argv = vboxmanage.poweroff(self.plan, h) if self.hypervisor == "virtualbox" else virsh.poweroff(self.plan, h)
        self._hv(argv, f"poweroff {host}")

    def start(self, host: str) -> None:
        h = self.plan.host(host)
        argv = vboxmanage.start(self.plan, h) if self.hypervisor == "virtualbox" else virsh.start(self.plan, h)
        self._hv(argv, f"start {host}")
        self.wait_for(f"{host} answering over ssh", lambda: self.run(host, ["true"], timeout=15).ok, 300, 2.0)

    def _links(self, host: str, up: bool) -> None:
        h = self.plan.host(host)
        if self.hypervisor == "virtualbox":
            commands = vboxmanage.link_state(self.plan, h, up)
        else:
            domain = vboxmanage.vm_name(self.plan, h)
            listing = subprocess.run([*virsh.VIRSH, "domiflist", domain], capture_output=True, text=True, timeout=60, check=False)
            networks = {intnet(self.plan, n.network): n.network for n in h.nics}
            commands = virsh.link_state(self.plan, h, virsh.interface_macs(listing.stdout, networks), up)
        for argv in commands:
            self._hv(argv, f"{'heal' if up else 'isolate'} {host}")

    def isolate(self, host: str) -> None:
        # The cable, not the guest's interface: Vagrant's management NIC stays, so the suite
        # still reaches the cut-off host (reach-isolated).
        self._links(host, up=False)

    def heal(self, host: str) -> None:
        self._links(host, up=True)


__all__ = ["VagrantProvider"]
