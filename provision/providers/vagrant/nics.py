"""The lab NICs of a VM get the plan's names (the documents' VirtualBox names): VMs number
their NICs as the hypervisor and the guest's udev do, not as the plan says."""

from __future__ import annotations

from provision.errors import ProviderError
from provision.topology import WAN, Host
from provision.vagrant_data import adapter_of

#: Each NIC with a PCI device, as "name mac device-path" lines.
LIST_NICS = ('for i in /sys/class/net/*; do [ -e "$i/device" ] && '
             'echo "${i##*/} $(cat "$i/address") $(readlink -f "$i/device")"; done; true')


def nic_names(listing: str, host: Host) -> list[tuple[str, str, str]]:
    """(current name, MAC, the plan's name) for each lab NIC: NICs in PCI order are Vagrant's
    management NIC first, then the lab's in adapter order, on VirtualBox and libvirt alike."""
    nics = sorted((line.split() for line in listing.splitlines() if len(line.split()) == 3), key=lambda c: c[2])
    lab = [n.ifname for n in sorted(host.nics, key=lambda n: adapter_of(n.ifname)) if n.network != WAN]
    if len(nics) != len(lab) + 1:
        raise ProviderError(f"{host.name} has {len(nics)} NICs; the plan gives it {len(lab)} lab NICs besides Vagrant's own")
    return [(name, mac, want) for (name, mac, _), want in zip(nics[1:], lab, strict=True)]


def lab_nic_names(p, host: Host) -> None:
    """Give the lab NICs the plan's names (the documents' VirtualBox names): a .link file for
    every boot, and at once for this one (a lab NIC carries no ssh session)."""
    listing = p.run(host.name, ["sh", "-c", LIST_NICS], timeout=30).stdout
    for name, mac, want in nic_names(listing, host):
        if p.write(host.name, f"/etc/systemd/network/10-{want}.link", f"[Match]\nMACAddress={mac}\n\n[Link]\nName={want}\n"):
            p.changed(f"{host.name}: {want} by MAC {mac}")
        if name != want:
            # udev gives NICs their predictable names as altnames; one may already be ours
            script = (f'for d in /sys/class/net/*; do ip link property del dev "${{d##*/}}" altname {want} 2>/dev/null; done; '
                      f"ip link set dev {name} down && ip link set dev {name} name {want} && ip link set dev {want} up")
            res = p.run(host.name, ["sh", "-c", script], timeout=30)
            if not res.ok:
                raise ProviderError(f"{host.name}: renaming {name} to {want} failed: {res.stderr.strip()}")
            p.changed(f"{host.name}: renamed {name} to {want}")
