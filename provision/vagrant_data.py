"""What the Vagrantfile reads: every VM of the plan, derived from the plan and nothing else
(`python -m provision vagrant-data`)."""

from __future__ import annotations

from provision.topology import WAN, Plan

#: VirtualBox names a VM's adapters 2..5 enp0s8, enp0s9, enp0s10, enp0s16 (the documents'
#: names); adapter 1 is Vagrant's own NAT (enp0s3), which the lab never uses but as the
#: gateway's uplink.
VIRTUALBOX_IFNAMES = {1: "enp0s3", 2: "enp0s8", 3: "enp0s9", 4: "enp0s10", 5: "enp0s16"}


def intnet(plan: Plan, network: str) -> str:
    """The VirtualBox internal network (and libvirt network) of a plan subnet."""
    return f"{plan.lab.prefix}-{network}"


def adapter_of(ifname: str) -> int:
    for adapter, name in VIRTUALBOX_IFNAMES.items():
        if name == ifname:
            return adapter
    raise ValueError(f"{ifname} is not a VirtualBox adapter name ({', '.join(VIRTUALBOX_IFNAMES.values())})")


def data(plan: Plan) -> dict:
    hosts = []
    for h in plan.hosts:
        spec = getattr(plan.roles, h.role)
        nics = sorted(
            ({"network": n.network, "ifname": n.ifname, "adapter": adapter_of(n.ifname),
              "intnet": None if n.network == WAN else intnet(plan, n.network)} for n in h.nics),
            key=lambda n: n["adapter"],
        )
        hosts.append({"name": h.name, "role": h.role, "cpus": spec.cpus, "memory_mb": spec.memory_mb,
                      "store_disk_gb": spec.store_disk_gb, "nics": [n for n in nics if n["network"] != WAN]})
    return {"box": plan.vagrant.box, "prefix": plan.lab.prefix, "hosts": hosts}
