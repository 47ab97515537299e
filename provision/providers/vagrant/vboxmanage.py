"""The VirtualBox node faults as VBoxManage command lines (for the vagrant provider)."""

from __future__ import annotations

from provision.topology import Host, Plan
from provision.vagrant_data import adapter_of


def vm_name(plan: Plan, host: Host) -> str:
    return f"{plan.lab.prefix}-{host.name}"


def poweroff(plan: Plan, host: Host) -> list[str]:
    """A hard power-off, as pulling the plug (not an ACPI shutdown)."""
    return ["VBoxManage", "controlvm", vm_name(plan, host), "poweroff"]


def start(plan: Plan, host: Host) -> list[str]:
    return ["VBoxManage", "startvm", vm_name(plan, host), "--type", "headless"]


def link_state(plan: Plan, host: Host, up: bool) -> list[list[str]]:
    """Cut (or restore) every lab link of a host: the cable, not the guest's interface."""
    return [["VBoxManage", "controlvm", vm_name(plan, host), f"setlinkstate{adapter_of(n.ifname)}", "on" if up else "off"]
            for n in host.nics if n.network != "wan"]
