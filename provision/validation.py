"""The lab's rules on a parsed plan (NET-07..09, ETCD-02's fault tolerance, and more).

``findings(plan)`` lists every problem; ``validate(plan)`` raises a PlanError for the first
error and returns the warnings. Each finding names the field path, the value and the fix.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from provision.errors import PlanError
from provision.topology import WAN, IPv4, Plan, etcd_fault_tolerance


@dataclass(frozen=True)
class Finding:
    severity: Literal["error", "warning"]
    path: str
    value: object
    fix: str


#: Roles whose address goes into other hosts' configuration, so DHCP must reserve it.
PINNED_ROLES = ("master", "loadbalancer")


def _err(path: str, value: object, fix: str) -> Finding:
    return Finding("error", path, value, fix)


@dataclass(frozen=True)
class _Span:
    """A named block of addresses in the plan, for the overlap rule (NET-09)."""

    path: str
    first: IPv4
    last: IPv4

    def overlaps(self, other: _Span) -> bool:
        return self.first <= other.last and other.first <= self.last

    def __str__(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"


def _networks(plan: Plan) -> Iterator[Finding]:
    lab = plan.lab.cidr
    for name, net in plan.networks.items():
        p = f"networks.{name}"
        if name == WAN:
            yield _err(p, name, f"'{WAN}' is the gateway's uplink, not a lab subnet; rename the network")
        if not net.cidr.subnet_of(lab):
            yield _err(f"{p}.cidr", str(net.cidr), f"move the subnet inside lab.cidr {lab}")
        if net.gateway not in net.cidr:
            yield _err(f"{p}.gateway", str(net.gateway), f"use an address inside {net.cidr}")
        start, end = net.dhcp_range()
        for key, addr in (("start", start), ("end", end)):
            if addr not in net.cidr:
                yield _err(f"{p}.dhcp.{key}", str(addr), f"use an address inside {net.cidr}")
        if start > end:
            yield _err(f"{p}.dhcp.end", str(end), f"the range must end at or after its start {start}")
        if start <= net.gateway <= end:
            yield _err(f"{p}.gateway", str(net.gateway), f"keep the gateway outside the DHCP range {start}-{end}")
    for extra, label in ((plan.lab.pod_cidr, "lab.pod_cidr"), (plan.lab.service_cidr, "lab.service_cidr")):
        if extra.overlaps(lab):
            yield _err(
                label,
                str(extra),
                f"choose a range that does not overlap lab.cidr {lab} (the documents use 10.244.0.0/16 for pods)",
            )
    if plan.lab.pod_cidr.overlaps(plan.lab.service_cidr):
        yield _err(
            "lab.service_cidr",
            str(plan.lab.service_cidr),
            f"choose a range that does not overlap lab.pod_cidr {plan.lab.pod_cidr}",
        )


def _subnet_overlaps(plan: Plan) -> Iterator[Finding]:
    items = list(plan.networks.items())
    for i, (a, na) in enumerate(items):
        for b, nb in items[i + 1 :]:
            if na.cidr.overlaps(nb.cidr):
                yield _err(
                    f"networks.{b}.cidr", str(nb.cidr), f"overlaps networks.{a}.cidr {na.cidr}; give each subnet its own range"
                )


def _hosts(plan: Plan) -> Iterator[Finding]:
    seen: dict[str, int] = {}
    for i, host in enumerate(plan.hosts):
        p = f"hosts[{i}]"
        if host.name in seen:
            yield _err(f"{p}.name", host.name, f"duplicates hosts[{seen[host.name]}].name; give every host its own name")
        seen.setdefault(host.name, i)
        ifnames: set[str] = set()
        for j, nic in enumerate(host.nics):
            q = f"{p}.nics[{j}]"
            if nic.ifname in ifnames:
                yield _err(f"{q}.ifname", nic.ifname, "each NIC of a host needs its own interface name")
            ifnames.add(nic.ifname)
            if nic.network == WAN:
                if host.role != "gateway":
                    yield _err(f"{q}.network", nic.network, "only the gateway has the uplink; attach the host to a lab subnet")
                continue
            net = plan.networks.get(nic.network)
            if net is None:
                yield _err(f"{q}.network", nic.network, f"use one of the plan's networks: {', '.join(plan.networks)}")
                continue
            if nic.address is None:
                continue
            if host.role == "gateway":
                yield _err(
                    f"{q}.address", str(nic.address), f"the gateway's address is networks.{nic.network}.gateway; remove it here"
                )
            elif nic.address not in net.cidr:
                yield _err(f"{q}.address", str(nic.address), f"use an address inside networks.{nic.network}.cidr {net.cidr}")
            elif nic.address == net.gateway:
                yield _err(f"{q}.address", str(nic.address), f"that is networks.{nic.network}.gateway; choose another address")
        if host.role in PINNED_ROLES and host.nics[0].address is None:
            yield _err(
                f"{p}.nics[0].address", None, f"a {host.role} needs a fixed address (etcd and corosync are configured by address)"
            )
        if host.role != "gateway" and len([n for n in host.nics if n.network != WAN]) != 1:
            yield _err(f"{p}.nics", len(host.nics), "every host but the gateway has exactly one lab NIC (the documents' images)")
    gateways = plan.by_role("gateway")
    if len(gateways) != 1:
        yield _err("hosts", len(gateways), "the plan needs exactly one host with role: gateway")
    else:
        gw = gateways[0]
        gi = plan.hosts.index(gw)
        attached = {n.network for n in gw.nics}
        for name in plan.networks:
            if name not in attached:
                yield _err(f"hosts[{gi}].nics", name, f"the gateway routes every subnet; add a NIC on network {name}")
        if WAN not in attached:
            yield _err(f"hosts[{gi}].nics", WAN, f"the gateway needs its NAT uplink: add a NIC on network {WAN}")


def _fixed_addresses(plan: Plan) -> Iterator[_Span]:
    """Every address the plan pins: gateways, reserved host addresses, the VIP."""
    for name, net in plan.networks.items():
        yield _Span(f"networks.{name}.gateway", net.gateway, net.gateway)
    for i, host in enumerate(plan.hosts):
        for j, nic in enumerate(host.nics):
            if nic.address is not None and host.role != "gateway":
                yield _Span(f"hosts[{i}].nics[{j}].address", nic.address, nic.address)
    yield _Span("vip.address", plan.vip.address, plan.vip.address)


def _vip_and_pool(plan: Plan) -> Iterator[Finding]:
    vip = plan.vip
    net = plan.networks.get(vip.network)
    if net is None:
        yield _err("vip.network", vip.network, f"use one of the plan's networks: {', '.join(plan.networks)}")
    elif vip.address not in net.cidr:
        yield _err("vip.address", str(vip.address), f"the VIP must lie in networks.{vip.network}.cidr {net.cidr} (NET-07)")
    elif net.dhcp.start <= vip.address <= net.dhcp.end:
        yield _err(
            "vip.address", str(vip.address), f"move the VIP outside the DHCP range {net.dhcp.start}-{net.dhcp.end} (NET-07)"
        )

    mlb = plan.metallb
    pool_net = plan.networks.get(mlb.network)
    worker_nets = {h.network for h in plan.workers}
    if pool_net is None:
        yield _err("metallb.network", mlb.network, f"use one of the plan's networks: {', '.join(plan.networks)}")
        return
    if worker_nets and mlb.network not in worker_nets:
        yield _err(
            "metallb.network", mlb.network, f"the pool must be in the workers' subnet ({', '.join(sorted(worker_nets))}) (NET-08)"
        )
    if mlb.start > mlb.end:
        yield _err("metallb.end", str(mlb.end), f"the pool must end at or after its start {mlb.start}")
    for key, addr in (("start", mlb.start), ("end", mlb.end)):
        if addr not in pool_net.cidr:
            yield _err(f"metallb.{key}", str(addr), f"keep the pool inside networks.{mlb.network}.cidr {pool_net.cidr} (NET-08)")


def _address_overlaps(plan: Plan) -> Iterator[Finding]:
    """NET-08/09: no range, pool or fixed address shares an address with another."""
    spans = [
        _Span(f"networks.{n}.dhcp", net.dhcp.start, net.dhcp.end)
        for n, net in plan.networks.items()
        if net.dhcp.start <= net.dhcp.end
    ]
    if plan.metallb.start <= plan.metallb.end:
        spans.append(_Span("metallb", plan.metallb.start, plan.metallb.end))
    fixed = list(_fixed_addresses(plan))
    everything = spans + fixed
    reported: set[tuple[str, str]] = set()
    for i, a in enumerate(everything):
        for b in everything[i + 1 :]:
            if a.overlaps(b) and (a.path, b.path) not in reported:
                reported.add((a.path, b.path))
                if a.path == "vip.address" or b.path == "vip.address":
                    # the VIP rule above already reports the VIP in a DHCP range
                    if "dhcp" in a.path or "dhcp" in b.path:
                        continue
                yield _err(
                    b.path, str(b), f"overlaps {a.path} ({a}); every range, pool and fixed address must be disjoint (NET-09)"
                )


def _cluster_sizes(plan: Plan) -> Iterator[Finding]:
    masters = len(plan.masters)
    if masters == 0:
        yield _err("hosts", 0, "the plan needs masters (role: master); three give etcd a failure tolerance of one")
    elif masters == 1 or masters % 2 == 0:
        tolerance, majority = etcd_fault_tolerance(masters)
        yield Finding(
            "warning",
            "hosts",
            masters,
            f"{masters} master(s): etcd tolerates {tolerance} failure(s) with a majority of {majority}; "
            "use an odd number of at least three",
        )
    if masters and plan.metallb.controller_replicas > masters:
        # one per master by required anti-affinity: the rest would stay Pending and the
        # add-ons step would wait for them until its bound
        yield _err("metallb.controller_replicas", plan.metallb.controller_replicas,
                   f"its replicas run on different masters, and the plan has {masters}: set it to at most {masters}")
    lbs = len(plan.loadbalancers)
    if plan.corosync.two_node and lbs != 2:
        yield _err(
            "corosync.two_node", plan.corosync.two_node, f"two_node: 1 needs exactly two loadbalancer hosts, the plan has {lbs}"
        )
    if plan.corosync.expected_votes != lbs and lbs:
        yield _err("corosync.expected_votes", plan.corosync.expected_votes, f"set it to the number of loadbalancer hosts ({lbs})")
    lb_nets = {h.network for h in plan.loadbalancers}
    if lb_nets and lb_nets != {plan.vip.network}:
        yield _err(
            "vip.network",
            plan.vip.network,
            f"the VIP moves between the loadbalancer hosts, which are on {', '.join(sorted(lb_nets))}",
        )
    glus = len(plan.glusters)
    if glus == 0:
        yield Finding("warning", "hosts", 0, "no gluster hosts: this lab has no storage tier (a smaller plan's, for a smoke run)")
    elif plan.gluster.replica > glus:
        yield _err(
            "gluster.replica",
            plan.gluster.replica,
            f"a replica count above the number of gluster hosts ({glus}) cannot be placed",
        )
    want = f"replicate:{plan.gluster.replica}"
    if plan.gluster.storage_class.volumetype != want:
        yield _err(
            "gluster.storage_class.volumetype", plan.gluster.storage_class.volumetype, f"use {want!r} to match gluster.replica"
        )




def _carriers(plan: Plan) -> Iterator[Finding]:
    named = set(plan.documents_packages())
    for name in plan.carriers:
        if name not in named:
            yield _err(f"carriers.{name}", name, "no role and no base_packages name this package; remove the entry or fix its name")


RULES = (_networks, _subnet_overlaps, _hosts, _vip_and_pool, _address_overlaps, _cluster_sizes, _carriers)


def findings(plan: Plan) -> list[Finding]:
    out: list[Finding] = []
    for rule in RULES:
        out.extend(rule(plan))
    return out


def validate(plan: Plan, *, source: str = "<plan>") -> list[Finding]:
    """Raise PlanError for the first error; return the warnings."""
    found = findings(plan)
    for f in found:
        if f.severity == "error":
            raise PlanError(source, f.path, f.value, f.fix)
    return [f for f in found if f.severity == "warning"]
