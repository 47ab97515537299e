"""Small pure checks over facts gathered from a lab: each returns the problems it finds,
one readable line each (what was expected, what was found, where, which promise).

The conformance suite gathers the facts on a running lab and calls these; the self-tests
call them on recorded outputs, good and broken."""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable

from provision.topology import Plan


def vip_placement(crm_mon_xml: str, plan: Plan) -> list[str]:
    """LB-03: the VIP and haproxy each run on exactly one node, the same one."""
    p = plan.pacemaker
    root = ET.fromstring(crm_mon_xml)
    where = {r.get("id"): sorted(n.get("name") for n in r.iter("node")) for r in root.iter("resource")}
    problems = []
    for rsc in (p.vip_resource, p.haproxy_resource):
        nodes = where.get(rsc, [])
        if len(nodes) != 1:
            problems.append(f"LB-03: {rsc} should run on exactly one node, runs on {nodes or 'none'}")
    if not problems and where[p.vip_resource] != where[p.haproxy_resource]:
        problems.append(f"LB-03: {p.haproxy_resource} on {where[p.haproxy_resource]} is not with {p.vip_resource} on {where[p.vip_resource]}")
    return problems


def parse_cmap(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(" = ")
        out[key.split(" (")[0]] = value
    return out


def corosync_settings(cmap_text: str, plan: Plan, host: str) -> list[str]:
    """LB-01/SEC-04: the totem, crypto and quorum settings corosync runs with."""
    c = plan.corosync
    values = parse_cmap(cmap_text)
    want = {
        "totem.cluster_name": c.cluster_name,
        "runtime.config.totem.token": str(c.token),
        "totem.token_retransmits_before_loss_const": str(c.token_retransmits_before_loss_const),
        "totem.crypto_cipher": c.crypto_cipher,
        "totem.crypto_hash": c.crypto_hash,
        "quorum.two_node": str(c.two_node),
        "quorum.expected_votes": str(c.expected_votes),
    }
    return [f"LB-01: {host}: {k} should be {v}, is {values.get(k, 'unset')}" for k, v in want.items() if values.get(k) != v]


def quorum(quorumtool: str, members: list[str], host: str) -> list[str]:
    """LB-01: quorate, with every member listed."""
    problems = [] if "Quorate:          Yes" in quorumtool else [f"LB-01: {host}: the cluster is not quorate"]
    problems += [f"LB-01: {host}: {m} is not a member" for m in members if m not in quorumtool]
    return problems


def etcd_cluster(status_json: str, members: int) -> list[str]:
    """ETCD-01: every member answers, and they agree on exactly one leader among them."""
    status = json.loads(status_json or "[]")
    problems = []
    if len(status) != members:
        problems.append(f"ETCD-01: {members} members should answer, {len(status)} did")
    leaders = {s["Status"]["leader"] for s in status}
    ids = {s["Status"]["header"]["member_id"] for s in status}
    if len(leaders) != 1 or not leaders <= ids:
        problems.append(f"ETCD-01: the members should agree on one leader among them, they name {sorted(leaders)}")
    return problems


def parse_leases(leases: str) -> dict[str, tuple[int, str]]:
    """dnsmasq's lease file: host name -> (expiry, address)."""
    table = {}
    for line in leases.splitlines():
        expiry, _mac, address, name, *_ = line.split()
        table[name] = (int(expiry), address)
    return table


def lease_seconds(lease: str) -> int:
    """A dnsmasq lease time (`12h`, `45m`, `3600`) in seconds."""
    return int(lease[:-1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[lease[-1]] if lease[-1].isalpha() else int(lease)


def dnsmasq_leases(leases: str, plan: Plan, now: float | None = None) -> list[str]:
    """NET-04: a lease per DHCP host, in its subnet (range or reservation), for the lease time."""
    now = time.time() if now is None else now
    table = parse_leases(leases)
    problems = []
    for h in plan.hosts:
        if h.role == "gateway":
            continue
        if h.name not in table:
            problems.append(f"NET-04: no DHCP lease for {h.name} on the gateway")
            continue
        expiry, address = table[h.name]
        net = plan.networks[h.network]
        fixed = plan.fixed_address(h)
        addr = ipaddress.ip_address(address)
        if fixed and addr != fixed:
            problems.append(f"NET-04: {h.name} should lease its reserved {fixed}, leased {addr}")
        elif not fixed and not net.dhcp.start <= addr <= net.dhcp.end:
            problems.append(f"NET-04: {h.name} leased {addr}, outside {net.dhcp.start}-{net.dhcp.end}")
        lease = net.dhcp.lease
        seconds = lease_seconds(lease)
        # A client renews at half the lease (T1): between renewals the time left runs from
        # the whole lease down to half of it, never more, and less only if it failed to renew.
        if not seconds / 2 - 60 < expiry - now <= seconds:
            problems.append(f"NET-04: {h.name}'s lease should run {lease}, expires in {expiry - now:.0f} s")
    return problems


#: How much of a just-renewed lease may have run when it is read: the poll that saw it.
RENEWAL_READ_S = 60


def renewed_lease(plan: Plan, host: str, expiry: int, renewed_at: float, client_lease: str) -> list[str]:
    """NET-04 on a lease the gateway granted just now (the leases held may be hours old and
    say what the server gave then): the server's expiry and the client's LIFETIME are the
    plan's lease time."""
    lease = plan.networks[plan.host(host).network].dhcp.lease
    seconds = lease_seconds(lease)
    problems = []
    if not seconds - RENEWAL_READ_S <= expiry - renewed_at <= seconds + 1:
        problems.append(f"NET-04: the gateway renewed {host}'s lease for {expiry - renewed_at:.0f} s, the plan says {lease} ({seconds} s)")
    fields = dict(ln.split("=", 1) for ln in client_lease.splitlines() if "=" in ln and not ln.startswith("#"))
    if fields.get("LIFETIME") != str(seconds):
        problems.append(f"NET-04: {host}'s DHCP client holds a lease of {fields.get('LIFETIME', 'no')} s, the plan says {lease} ({seconds} s)")
    return problems


def holds_address(ip_addr_output: str, address: str) -> bool:
    """`ip -4 -o addr show dev NIC` lists ``address`` (the VIP, a /32 on the holder)."""
    return f" {address}/" in ip_addr_output


def haproxy_rows(show_stat: str) -> list[dict[str, str]]:
    """HAProxy's `show stat` CSV as rows by column name."""
    rows = list(csv.reader(io.StringIO(show_stat.lstrip("# "))))
    if not rows:
        return []
    header, body = rows[0], [r for r in rows[1:] if r]
    return [dict(zip(header, r, strict=False)) for r in body]


def haproxy_servers(show_stat: str, backend: str) -> dict[str, str]:
    """Each server of ``backend`` and its state as HAProxy's check sees it (UP, DOWN, "UP 1/3"...)."""
    return {r["svname"]: r["status"] for r in haproxy_rows(show_stat) if r["pxname"] == backend and r["svname"] not in ("FRONTEND", "BACKEND")}


def haproxy_backend(show_stat: str, plan: Plan) -> list[str]:
    """LB-04: the frontend is open, the backend lists every master, and its health check finds
    each of them UP (a backend whose servers are all DOWN serves nobody)."""
    h = plan.haproxy
    problems = []
    if not any(r["pxname"] == h.frontend and r["svname"] == "FRONTEND" and r["status"] == "OPEN" for r in haproxy_rows(show_stat)):
        problems.append(f"LB-04: frontend {h.frontend} should be open")
    states = haproxy_servers(show_stat, h.backend)
    servers = sorted(states)
    want = sorted(m.name for m in plan.masters)
    if servers != want:
        problems.append(f"LB-04: backend {h.backend} should have servers {want}, has {servers}")
    # "UP 1/3" is still up (a check failed, fall not reached); DOWN, MAINT, DRAIN, NOLB are not
    down = sorted(f"{name} {state}" for name, state in states.items() if not state.startswith("UP"))
    if down:
        problems.append(f"LB-04: backend {h.backend}'s health check should find every master UP: {', '.join(down)}")
    return problems


def gluster_volume(info: str, plan: Plan) -> list[str]:
    """STO-04: a started Replicate volume, replica N, one brick on each Gluster node."""
    g = plan.gluster
    problems = []
    if "Type: Replicate" not in info:
        problems.append(f"STO-04: volume {g.volume} should be of type Replicate")
    if "Status: Started" not in info:
        problems.append(f"STO-04: volume {g.volume} should be started")
    if f"Number of Bricks: 1 x {g.replica} = {g.replica}" not in info:
        problems.append(f"STO-04: volume {g.volume} should have 1 x {g.replica} bricks")
    bricks = [ln.split(": ", 1)[1].split(":")[0] for ln in info.splitlines() if ln.startswith("Brick") and ": " in ln]
    want = sorted(plan.fqdn(n) for n in plan.glusters)
    if sorted(bricks) != want:
        problems.append(f"STO-04: bricks should be on {want}, are on {sorted(bricks)}")
    return problems


def gluster_option(output: str, key: str) -> str | None:
    """The value `gluster volume get VOLUME|all KEY` shows for ``key``, without its
    "(DEFAULT)" mark; None when the output has no line for it."""
    for line in output.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == key:
            return words[1]
    return None


def gluster_options_differ(get: Callable[[str, str], str], volume: str, options: dict[str, str]) -> list[str]:
    """How ``volume`` ("all": the pool) differs from ``options``; ``get(volume, key)`` is the
    output of `gluster volume get VOLUME KEY` on a node."""
    wrong = []
    for key, want in options.items():
        got = gluster_option(get(volume, key), key)
        if got != want:
            wrong.append(f"{volume} {key} is {got}, the plan says {want}")
    return wrong


def nslookup_addresses(output: str, name: str) -> list[str]:
    """The addresses busybox nslookup gives for ``name``: the Address lines after its Name
    line (the Server/Address lines above say which server answered, not what)."""
    addresses, in_answer = [], False
    for line in output.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "Name":
            in_answer = value.strip().rstrip(".") == name.rstrip(".")
        elif key.strip() == "Address" and in_answer:
            addresses.append(value.strip())
    return addresses


def resolves_to(output: str, name: str, address: str, promise: str) -> list[str]:
    """``name`` resolved, and to ``address``."""
    found = nslookup_addresses(output, name)
    if address in found:
        return []
    return [f"{promise}: {name} should resolve to {address}, resolved to {found or 'nothing'}: {output.strip()}"]


#: curl's exit codes for a peer that is not there: no address, refused, timed out.
UNREACHABLE_CURL = {6: "the name does not resolve", 7: "nothing listens (connection refused)", 28: "no answer (timed out)"}


def tls_refusal(rc: int, stderr: str) -> str:
    """SEC-05: why a request without a client certificate was not refused *by TLS* ("" when
    it was): an answer is a failure, and so is a port that is merely unreachable."""
    if rc == 0:
        return "answered a client without a certificate"
    if rc in UNREACHABLE_CURL:
        return f"did not refuse, it could not be reached: {UNREACHABLE_CURL[rc]} (curl {rc})"
    if "alert" not in stderr.lower():
        return f"failed without a TLS refusal (curl {rc}: {stderr.strip()})"
    return ""
