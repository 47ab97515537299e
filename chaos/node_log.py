"""What a node's own journal says happened during a fault, as timeline events.

A probe sees when a service stops and starts answering; the node that takes over knows why
it took that long: when corosync gave up the token, when pacemaker started each resource.
Its journal's times are on its own clock, so they are placed on the timeline through the
clock's offset, measured once around one command (good to half that command's round trip).
The durations between two of its events need no offset at all.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass


class NodeLogError(Exception):
    """The node's clock or journal could not be read."""


@dataclass(frozen=True)
class Mark:
    label: str
    units: tuple[str, ...]
    pattern: str


@dataclass(frozen=True)
class Offset:
    seconds: float  # add to a node time to get this machine's
    uncertainty: float


@dataclass(frozen=True)
class Seen:
    label: str
    node_t: float
    t: float  # on this machine's clock


def failover_marks(vip_resource: str) -> list[Mark]:
    """The steps of a VIP failover on the node that takes it over, in the order they happen.
    haproxy's start is systemd's word: pacemaker reports a systemd resource started only
    after its next status poll, about 2 s after it answers (local lab, 2026-12-06)."""
    return [
        Mark("corosync: token lost", ("corosync",), r"A processor failed, forming new configuration"),
        Mark("corosync: membership without it", ("corosync",), r"A new membership \(.*\) was formed\. Members left"),
        Mark("pacemaker: VIP started", ("pacemaker",), rf"Result of start operation for {re.escape(vip_resource)} on .*: ok"),
        Mark("systemd: haproxy started", ("haproxy",), r"^Started haproxy\.service"),
        Mark("haproxy: first connection", ("haproxy",), r"^Connect from "),
    ]


def clock_offset(lab, host: str) -> Offset:
    before = time.time()
    res = lab.run(host, ["date", "+%s.%N"], timeout=30)
    after = time.time()
    if not res.ok:
        raise NodeLogError(f"{host}: could not read its clock: {res.stderr.strip()}")
    return Offset((before + after) / 2 - float(res.stdout), (after - before) / 2)


def journal(lab, host: str, units: set[str], since_node: float) -> list[tuple[float, str]]:
    """(node time, message) of the units' journal lines since a node time."""
    argv = ["journalctl", "--no-pager", "-o", "json", "--output-fields=MESSAGE", f"--since=@{since_node:.6f}"]
    for unit in sorted(units):
        argv += ["-u", unit]
    res = lab.run(host, argv, timeout=60)
    if not res.ok:
        raise NodeLogError(f"{host}: journalctl failed: {res.stderr.strip()}")
    lines = []
    for raw in res.stdout.splitlines():
        entry = json.loads(raw)
        message = entry.get("MESSAGE")
        if isinstance(message, list):  # journald stores a message that is not UTF-8 as bytes
            message = bytes(message).decode(errors="replace")
        lines.append((int(entry["__REALTIME_TIMESTAMP"]) / 1e6, message or ""))
    return lines


def first_seen(lines: list[tuple[float, str]], marks: list[Mark], offset: Offset) -> list[Seen]:
    """Each mark's first line, in the marks' order; a mark not found is left out."""
    seen = []
    for mark in marks:
        hit = next(((t, m) for t, m in lines if re.search(mark.pattern, m)), None)
        if hit:
            seen.append(Seen(mark.label, hit[0], hit[0] + offset.seconds))
    return seen


def events_since(lab, host: str, since: float, marks: list[Mark]) -> tuple[list[Seen], Offset]:
    """The marks found in a host's journal since a time of this machine's clock."""
    offset = clock_offset(lab, host)
    units = {u for m in marks for u in m.units}
    lines = journal(lab, host, units, since - offset.seconds - offset.uncertainty)
    return first_seen(lines, marks, offset), offset


def steps(seen: list[Seen], start: float, end: tuple[str, float]) -> list[tuple[str, float]]:
    """How long each step took, from a time of this machine's (the fault) through the node's
    marks to an event of this machine's (the first answer). Between two marks the node's own
    clock is used, so only the first and the last step carry the offset's error."""
    out, t, node_t = [], start, None
    for s in seen:
        out.append((s.label, s.node_t - node_t if node_t is not None else s.t - t))
        t, node_t = s.t, s.node_t
    out.append((end[0], end[1] - t))
    return out
