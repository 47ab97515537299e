"""The libvirt node faults as virsh command lines (the vagrant provider on vagrant-libvirt).
The Vagrantfile names each domain as VirtualBox names the VM: prefix-host."""

from __future__ import annotations

from provision.providers.vagrant.vboxmanage import vm_name
from provision.topology import Host, Plan

VIRSH = ["virsh", "-c", "qemu:///system"]


def poweroff(plan: Plan, host: Host) -> list[str]:
    """`destroy` is libvirt's pulled plug: the domain stops at once, nothing is removed."""
    return [*VIRSH, "destroy", vm_name(plan, host)]


def start(plan: Plan, host: Host) -> list[str]:
    return [*VIRSH, "start", vm_name(plan, host)]


def link_state(plan: Plan, host: Host, macs: dict[str, str], up: bool) -> list[list[str]]:
    """Cut (or restore) every lab link of a host by its MAC (``macs``: network -> MAC, from
    `virsh domiflist`): the cable, not the guest's interface."""
    return [[*VIRSH, "domif-setlink", vm_name(plan, host), macs[n.network], "up" if up else "down"]
            for n in host.nics if n.network != "wan"]


def interface_macs(domiflist: str, networks: dict[str, str]) -> dict[str, str]:
    """network -> MAC from `virsh domiflist DOMAIN` output; ``networks``: libvirt network name -> plan network."""
    macs = {}
    for line in domiflist.splitlines()[2:]:
        cols = line.split()
        if len(cols) == 5 and cols[2] in networks:
            macs[networks[cols[2]]] = cols[4]
    return macs
