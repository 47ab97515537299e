"""`python -m provision check`: the plan as tables, its warnings and the documents' errata."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from provision.profile import departures
from provision.promises import errata
from provision.topology import WAN, Plan, etcd_fault_tolerance
from provision.validation import Finding


def _address(plan: Plan, host) -> str:
    fixed = plan.fixed_address(host)
    if fixed:
        return f"{fixed} (fixed)"
    net = plan.networks[host.network]
    return f"DHCP {net.dhcp.start}-{net.dhcp.end}"


def show(plan: Plan, warnings: list[Finding], console: Console) -> None:
    nets = Table(title=f"Networks of {plan.lab.name} ({plan.lab.cidr}, pods {plan.lab.pod_cidr})")
    for col in ("subnet", "cidr", "gateway/DNS", "DHCP range", "lease"):
        nets.add_column(col)
    for name, net in plan.networks.items():
        nets.add_row(name, str(net.cidr), str(net.gateway), f"{net.dhcp.start}-{net.dhcp.end}", net.dhcp.lease)
    console.print(nets)

    hosts = Table(title="Hosts")
    for col in ("host", "role", "subnet", "NIC", "address", "CPU", "RAM MB"):
        hosts.add_column(col, no_wrap=col in ("host", "address"))
    for h in plan.hosts:
        spec = getattr(plan.roles, h.role)
        subnets = ",".join(n.network for n in h.nics if n.network != WAN)
        nics = ",".join(n.ifname for n in h.nics)
        hosts.add_row(h.name, h.role, subnets, nics, _address(plan, h), str(spec.cpus), str(spec.memory_mb))
    console.print(hosts)

    n = len(plan.masters)
    tol, maj = etcd_fault_tolerance(n)
    console.print(
        f"VIP {plan.vip.address}:{plan.vip.port} in {plan.vip.network}; "
        f"MetalLB pool {plan.metallb.pool} {plan.metallb.start}-{plan.metallb.end} ({plan.metallb.protocol}); "
        f"etcd {n} members: tolerates {tol} failure(s), majority {maj}; "
        f"Kubernetes v{plan.versions.kubernetes}, Debian {plan.versions.debian}"
    )
    for w in warnings:
        console.print(f"[yellow]warning[/] {w.path}: {w.value!r}: {w.fix}")

    found = Table(title="Errata of the documents (PROMISES.md DOC-*)")
    found.add_column("ID")
    found.add_column("finding")
    for e in errata():
        found.add_row(e.id, e.finding)
    console.print(found)

    away = departures(plan)
    if not away:
        console.print("Documents' profile: every value of this plan is the documents' (beyond the errata above).")
        return
    table = Table(title=f"Departures from the documents' lab ({len(away)}): a green run proves this plan, not the documents' lab")
    for col in ("value", "documents", "this plan"):
        table.add_column(col)
    for d in away:
        table.add_row(d.path, "-" if d.documents is None else str(d.documents), "-" if d.plan is None else str(d.plan))
    console.print(table)
