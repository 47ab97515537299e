"""What the vagrant provider needs on the machine, checked before anything is created: every
problem in one error, each line naming what is missing and how to fix it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

from provision.errors import ProviderError
from provision.topology import Plan
from provision.vagrant_data import data

MIN_VAGRANT = (2, 3, 4)
MIN_VIRTUALBOX = (6, 1)
#: VirtualBox releases that older Vagrants refuse ("not supported"): the first Vagrant that
#: knows them (hashicorp/vagrant#13501 for 7.1).
VIRTUALBOX_NEEDS_VAGRANT = {(7, 1): (2, 4, 2)}
#: What the machine keeps for itself beyond the VMs (the host OS, VirtualBox's own processes).
HEADROOM_MB = 1024


def version(text: str) -> tuple[int, ...]:
    """The first dotted version in a tool's output: "Vagrant 2.3.4" -> (2, 3, 4); "7.0.14r161095" -> (7, 0, 14)."""
    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not m:
        raise ValueError(f"no version in {text!r}")
    return tuple(int(g) for g in m.groups() if g is not None)


def dotted(v: tuple[int, ...]) -> str:
    return ".".join(map(str, v))


def _output(argv: list[str]) -> str | None:
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return res.stdout if res.returncode == 0 else None


def needed_memory_mb(plan: Plan) -> int:
    return sum(vm["memory_mb"] for vm in data(plan)["hosts"])


def available_memory_mb() -> int | None:
    """Memory the VMs can have now: MemAvailable on Linux, physical memory elsewhere (macOS);
    None where neither can be read (Windows: checked by VirtualBox itself)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20
    except (AttributeError, ValueError, OSError):
        return None


def memory_problem(plan: Plan, available_mb: int | None) -> str | None:
    need = needed_memory_mb(plan)
    if available_mb is None or need + HEADROOM_MB <= available_mb:
        return None
    return (f"memory: the plan's {len(plan.hosts)} VMs need {need} MiB (+{HEADROOM_MB} MiB for the machine) but "
            f"{available_mb} MiB are available; in a copy of provision/lab.yaml (--plan FILE) lower roles.<role>.memory_mb "
            "(masters need 1700 MiB for kubeadm) or drop workers")


def version_problems(vagrant: tuple[int, ...] | None, provider: str, hypervisor: tuple[int, ...] | None) -> list[str]:
    problems = []
    if vagrant is None:
        problems.append("vagrant: not found on PATH; install Vagrant >= "
                        f"{dotted(MIN_VAGRANT)} (https://developer.hashicorp.com/vagrant/install, or your system's package)")
    elif vagrant < MIN_VAGRANT:
        problems.append(f"vagrant: {dotted(vagrant)} is too old; install Vagrant >= {dotted(MIN_VAGRANT)}")
    if provider == "virtualbox":
        if hypervisor is None:
            problems.append("VBoxManage: not found on PATH; install VirtualBox >= "
                            f"{dotted(MIN_VIRTUALBOX)} (https://www.virtualbox.org/wiki/Downloads) and put VBoxManage on PATH")
        elif hypervisor < MIN_VIRTUALBOX:
            problems.append(f"VirtualBox: {dotted(hypervisor)} is too old; install VirtualBox >= {dotted(MIN_VIRTUALBOX)}")
        elif vagrant is not None:
            for vbox, need in VIRTUALBOX_NEEDS_VAGRANT.items():
                if hypervisor[:2] >= vbox and vagrant < need:
                    problems.append(f"vagrant: {dotted(vagrant)} does not support VirtualBox {dotted(hypervisor)}; "
                                    f"install Vagrant >= {dotted(need)}")
    return problems


def libvirt_problems(plugins: str | None, virsh: str | None) -> list[str]:
    problems = []
    if plugins is None or "vagrant-libvirt" not in plugins:
        problems.append("vagrant-libvirt: the plugin is not installed; `vagrant plugin install vagrant-libvirt` "
                        "(or Debian's vagrant-libvirt package)")
    if virsh is None:
        problems.append("libvirt: `virsh -c qemu:///system version` does not answer; install libvirt and start libvirtd")
    return problems


def check(plan: Plan, provider: str) -> None:
    """Raise one ProviderError listing every missing prerequisite of ``provider``
    (virtualbox or libvirt) for ``plan``."""
    out = _output(["vagrant", "--version"]) if shutil.which("vagrant") else None
    vagrant = version(out) if out else None
    hypervisor = None
    if provider == "virtualbox" and shutil.which("VBoxManage"):
        out = _output(["VBoxManage", "--version"])
        hypervisor = version(out) if out else None
    problems = version_problems(vagrant, provider, hypervisor)
    if provider == "libvirt":
        plugins = _output(["vagrant", "plugin", "list"]) if vagrant else None
        virsh = _output(["virsh", "-c", "qemu:///system", "version"]) if shutil.which("virsh") else None
        problems += libvirt_problems(plugins, virsh)
    if memory := memory_problem(plan, available_memory_mb()):
        problems.append(memory)
    if problems:
        raise ProviderError(f"the vagrant provider ({provider}) cannot build this lab here:\n" + "\n".join(problems)
                            + "\nor build the same lab as containers: --provider local (systemd-nspawn, root on Linux)")
