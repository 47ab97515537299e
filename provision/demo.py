"""Talk mode: a live dashboard of the running lab for a speaker on stage.

Single keys trigger the documented faults, each named with the promise it shows (v: the VIP
holder, LB-06; e: the etcd leader, ETCD-05; m: a master, LB-08; w: the worker announcing the
demo address, MLB-05; g: a Gluster node, STO-06; r: restore everything; q: restore and
quit). The screen shows the recovery as it happens, with the measured gaps: of the API, of the
demo's address and of the demo's writer on its Gluster claim. It fits an
80x24 terminal, and says everything in words as well as colours (a projector may wash them
out)."""

from __future__ import annotations

import contextlib
import os
import select
import sys
import termios
import threading
import time
import tty
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from provision import records
from provision.facts import announcer, brick_running, etcd_healthy, etcd_leader, is_ready, kubectl_json, node_macs, vip_holder
from provision.probe import Probe

SPARK = "▁▂▃▄▅▆▇█"
WINDOW_S = 30
#: How long the claim's records are kept to measure a gap: a writer may stall for longer
#: than the screen shows (its pod restarting on a node that came back).
HISTORY_S = 600
#: Characters of a sparkline: WINDOW_S of 0.2 s samples, five to a character.
SPARK_WIDTH = 24
#: A row is live while its last success is this recent (a probe's timeout is 1 s).
FRESH_S = 3
#: The demo's writer on its claim, as a row of the screen (its records, from its log).
CLAIM = "claim"
CLAIM_READ = "claim read at"
#: Volume label -> its bricks running, of the plan's volume and the claim's.
BRICKS = "bricks"
#: How often each source of the screen is asked again (each in its own thread, so a source
#: that hangs while its host is down freezes only its own line).
POLL_S = 0.5
PROBE_S = "3600"
#: The longest a power-off may take before its host is started again anyway.
POWER_S = 60
#: Hosts per row: 13 hosts in four rows of an 80-column terminal.
HOST_COLUMNS = 4


@dataclass(frozen=True)
class Key:
    key: str
    what: str
    promise: str
    victim: Callable[[Dashboard], str | None]


def _running_master(d: Dashboard) -> str | None:
    alive = [m.name for m in d.plan.masters if d.state["hosts"].get(m.name)]
    return alive[-1] if len(alive) == len(d.plan.masters) else None  # one master at a time: quorum stays


def _gluster_node(d: Dashboard) -> str | None:
    alive = [g.name for g in d.plan.glusters if d.state["hosts"].get(g.name)]
    return alive[-1] if alive else None


KEYS = (
    Key("v", "VIP holder", "LB-06", lambda d: d.state["vip"]),
    Key("e", "etcd leader", "ETCD-05", lambda d: d.state["leader"]),
    Key("m", "a master", "LB-08", _running_master),
    Key("w", "announcing worker", "MLB-05", lambda d: d.state["announcer"]),
    Key("g", "a Gluster node", "STO-06", _gluster_node),
)


class Dashboard:
    def __init__(self, lab, state_dir: Path) -> None:
        self.lab = lab
        self.plan = lab.plan
        self.state_dir = state_dir
        self.admin = self.plan.by_role("admin")[0].name
        self.state: dict[str, object] = {"vip": None, "leader": None, "etcd_ok": None, "hosts": {}, "nodes": None,
                                         "coredns": [], "address": None, "announcer": None}
        self.events: deque[str] = deque(maxlen=3)
        self.down: set[str] = set()
        self.powering_off: dict[str, threading.Thread] = {}
        self.pending: dict[str, float] = {}  # probe -> when the last fault began, until it answers again
        self.gaps: dict[str, float] = {}
        self.fault_gaps: dict[str, float] = {}  # the last fault's, as they are measured
        self.stop = threading.Event()
        #: Whose bricks the screen shows: the plan's volume, and the claim's once run() finds it.
        self.volumes = {self.plan.gluster.volume: self.plan.gluster.volume}
        vip = self.plan.vip
        self.probes: dict[str, Probe] = {
            "API": Probe(lab, self.admin, "https_probe", [str(vip.address), str(vip.port), "/readyz", "0.2", PROBE_S],
                         state_dir / "demo-api-probe.jsonl"),
        }

    # -- data -------------------------------------------------------------------------------
    def _loop(self, source: Callable[[], dict]) -> None:
        said = ""
        while not self.stop.is_set():
            # A source that fails says so once on screen; the others go on.
            try:
                self.state.update(source())
                said = ""
            except Exception as exc:
                if f"{exc}" != said:
                    said = f"{exc}"
                    self.events.appendleft(f"{source.__name__.strip('_')}: {type(exc).__name__}: {exc}"[:76])
            self.stop.wait(POLL_S)

    def _hosts(self) -> dict:
        return {"hosts": {h.name: self.lab.running(h.name) for h in self.plan.hosts}}

    def _balancers(self) -> dict:
        return {"vip": vip_holder(self.lab)}

    def _etcd(self) -> dict:
        return {"leader": etcd_leader(self.lab, self.admin), "etcd_ok": etcd_healthy(self.lab, self.admin)}

    def _kubernetes(self) -> dict:
        nodes = kubectl_json(self.lab, "get", "nodes")
        dns = kubectl_json(self.lab, "-n", "kube-system", "get", "pods", "-l", "k8s-app=kube-dns")
        ready = None if nodes is None else {n["metadata"]["name"]: is_ready(n) for n in nodes["items"]}
        return {"nodes": ready, "coredns": sorted(p["spec"].get("nodeName", "?") for p in (dns or {}).get("items", [])
                                                  if p["status"].get("phase") == "Running")}

    def _metallb(self) -> dict:
        ip = self.state["address"]
        return {"announcer": announcer(self.lab, ip, self.macs)} if ip else {}

    def demo_address(self) -> str | None:
        svc = kubectl_json(self.lab, "-n", "demo", "get", "service", "demo-lb")
        ingress = (svc or {}).get("status", {}).get("loadBalancer", {}).get("ingress") or []
        return ingress[0]["ip"] if ingress else None

    def _bricks(self) -> dict:
        return {BRICKS: {label: sum(brick_running(self.lab, g.name, volume) for g in self.plan.glusters)
                         for label, volume in self.volumes.items()}}

    def _claim(self) -> dict:
        # Its log comes through the API: while the API does not answer (the VIP moving), the
        # row says so rather than "NOT writing".
        now = time.time()
        # From the last read on, however long ago: what was written while the log could not
        # be read still shows.
        since = max(now - HISTORY_S, min(now - WINDOW_S, self.state.get(CLAIM_READ, now) - FRESH_S))
        got = records.samples_since(self.lab, since)
        if got is None:
            return {}
        # Kept longer than the screen shows: a stall longer than the window still has its last
        # success before the fault, and so its gap.
        kept = [s for s in self.state.get(CLAIM, []) if now - HISTORY_S < s["t"] < since]
        return {CLAIM: kept + got, CLAIM_READ: now}

    def watched(self) -> list[str]:
        """The rows whose gaps a fault measures: the probes, and the claim's writer if shown."""
        return [*self.probes, *([CLAIM] if CLAIM in self.state else [])]

    def samples(self, name: str, since: float) -> list[dict]:
        got = self.state[CLAIM] if name == CLAIM else self.probes[name].samples()
        return [s for s in got if s["t"] > since]

    def measure_gaps(self) -> None:
        """Each row's gap since the last fault: the last success before it to the first after.
        The fault's gaps share one event line, filled in as they come (three lines of events
        would not hold one per row)."""
        for name, fault_at in list(self.pending.items()):
            samples = self.samples(name, fault_at - HISTORY_S)
            before = [s["t"] for s in samples if s["result"] == "ok" and s["t"] < fault_at]
            after = [s["t"] for s in samples if s["result"] == "ok" and s["t"] > fault_at + 0.2]
            if before and after:
                self.gaps[name] = after[0] - before[-1]
                self.fault_gaps[name] = self.gaps[name]
                del self.pending[name]
                line = "gaps: " + " · ".join(f"{n} {g:.2f} s" for n, g in self.fault_gaps.items())
                if self.events and self.events[0].startswith("gaps: "):
                    self.events[0] = line
                else:
                    self.events.appendleft(line)

    # -- faults -----------------------------------------------------------------------------
    def fault(self, k: Key) -> None:
        host = k.victim(self)
        if not host:
            self.events.appendleft(f"{k.what} ({k.promise}): nothing to kill now")
            return
        self.events.appendleft(f"{time.strftime('%H:%M:%S')} {k.promise}: poweroff {host} ({k.what})")
        now = time.time()
        self.pending = {name: now for name in self.watched()}
        self.fault_gaps = {}
        self.down.add(host)
        self.powering_off[host] = threading.Thread(target=self.lab.poweroff, args=(host,), daemon=True)
        self.powering_off[host].start()

    def key(self, ch: str) -> bool:
        chosen = next((k for k in KEYS if k.key == ch), None)
        if chosen:
            self.fault(chosen)
        elif ch == "r":
            threading.Thread(target=self.restore, daemon=True).start()
        elif ch == "q":
            return False
        return True

    def restore(self) -> None:
        for host in sorted(self.down):
            # A host is started once its power-off has ended: it looks down before its
            # container is cleaned up, and a start in between fails.
            off = self.powering_off.pop(host, None)
            if off is not None:
                off.join(POWER_S)
            self.events.appendleft(f"{time.strftime('%H:%M:%S')} start {host}")
            try:
                self.lab.start(host)
            except Exception as exc:  # said on screen: the speaker presses r again
                self.events.appendleft(f"start {host} failed: {exc}"[:76])
                continue
            self.down.discard(host)

    # -- screen -----------------------------------------------------------------------------
    def _probe_row(self, name: str, target: str, doing: str = "answering") -> list:
        now = time.time()
        samples = self.samples(name, now - WINDOW_S)
        # by time, not by count: a writer that stalls leaves no samples, only a blank stretch
        slot = WINDOW_S / SPARK_WIDTH
        spark = ""
        for i in range(SPARK_WIDTH):
            lo = now - WINDOW_S + i * slot
            ok = [s["result"] == "ok" for s in samples if lo < s["t"] <= lo + slot]
            spark += SPARK[round(sum(ok) / len(ok) * (len(SPARK) - 1))] if ok else " "
        live = bool(samples) and samples[-1]["result"] == "ok" and samples[-1]["t"] > now - FRESH_S
        gap = self.gaps.get(name)
        return [f"{name} {target}", Text(doing if live else f"NOT {doing}", style="green" if live else "bold red"),
                Text(spark.rstrip() or "-", style="green"), f"gap {gap:.2f} s" if gap is not None else "gap -"]

    def render(self) -> Group:
        self.measure_gaps()
        st = self.state
        top = Table.grid(padding=(0, 1))
        top.add_row(*self._probe_row("API", f"{self.plan.vip.address}:{self.plan.vip.port}"))
        top.add_row("  VIP holder", Text(str(st["vip"] or "nobody"), style="bold magenta"), "", "")
        top.add_row("  etcd leader", Text(str(st["leader"] or "none"), style="bold cyan"),
                    Text("healthy" if st["etcd_ok"] else "DEGRADED", style="green" if st["etcd_ok"] else "bold red"), "")
        if "demo" in self.probes:
            top.add_row(*self._probe_row("demo", f"{st['address']}:80"))
            top.add_row("  announced by", Text(str(st["announcer"] or "nobody"), style="bold magenta"), "", "")
        if CLAIM in st:
            row = self._probe_row(CLAIM, "records", "writing")
            if time.time() - st.get(CLAIM_READ, 0) > FRESH_S:
                row[1] = Text("unknown: its log unread", style="bold yellow")
            top.add_row(*row)
        nodes = st["nodes"]
        if nodes is None:
            top.add_row("  nodes", Text("unknown", style="bold red"), "the API does not answer", "")
        else:
            not_ready = sorted(n.removeprefix("kube-") for n, r in nodes.items() if not r)
            top.add_row("  nodes", Text(f"{len(nodes) - len(not_ready)}/{len(nodes)} Ready", style="red" if not_ready else "green"),
                        Text(f"NotReady: {', '.join(not_ready)}" if not_ready else "", style="bold red"), "")
        dns = st["coredns"]
        top.add_row("  CoreDNS", f"{len(dns)} running", ("on " + ", ".join(n.removeprefix("kube-") for n in dns)) if dns else "", "")
        hosts = Table.grid(padding=(0, 2))
        cells = []
        for h in self.plan.hosts:
            up = st["hosts"].get(h.name)
            cells.append(Text.assemble(f"{h.name} ", ("up" if up else "DOWN", "green" if up else "bold red")))
        for i in range(0, len(cells), HOST_COLUMNS):
            hosts.add_row(*cells[i : i + HOST_COLUMNS])
        keys = Text(" · ".join(f"{k.key} {k.what} {k.promise}" for k in KEYS) + " · r restore · q quit", style="dim")
        return Group(Panel(top, title="underhood: the lab, live"), Panel(hosts, title=self._bricks_title()),
                     Panel("\n".join(self.events) or "-", title="events"), keys)

    def _bricks_title(self) -> Text:
        """The hosts' panel title carries the bricks (a line of its own would not fit 24)."""
        bricks = self.state.get(BRICKS)
        if not bricks:
            return Text("hosts")
        n = len(self.plan.glusters)
        title = Text("hosts · bricks running: ")
        for i, (label, up) in enumerate(bricks.items()):
            if i:
                title.append(" · ")
            title.append(f"{label} {up}/{n}", style="green" if up == n else "bold red")
        return title

    def run(self, talk=None) -> None:
        """Until q or Ctrl-C; ``talk`` (a talk.Runner) runs its script beside the screen, and
        space or Enter lets it go on past a pause."""
        address = self.demo_address()
        if address:
            self.state["address"] = address
            self.macs = node_macs(self.lab)
            self.probes["demo"] = Probe(self.lab, self.admin, "tcp_probe", [address, "80", "0.2", PROBE_S],
                                        self.state_dir / "demo-address-probe.jsonl")
        sources = [self._hosts, self._balancers, self._etcd, self._kubernetes, self._metallb, self._bricks]
        if records.writing(self.lab):
            self.state[CLAIM] = []
            sources.append(self._claim)
            with contextlib.suppress(LookupError):  # not bound yet: its row, without its bricks
                self.volumes[CLAIM] = records.volume(self.lab)
        for probe in self.probes.values():
            probe.start()
        for source in sources:
            threading.Thread(target=self._loop, args=(source,), daemon=True).start()
        if talk is not None:
            threading.Thread(target=talk.run, daemon=True).start()
        fd = sys.stdin.fileno()
        old = termios.tcgetattr(fd) if os.isatty(fd) else None
        try:
            if old:
                tty.setcbreak(fd)
            with Live(self.render(), refresh_per_second=4, screen=False) as live:
                while True:
                    ready, _, _ = select.select([sys.stdin], [], [], 0.25)
                    ch = sys.stdin.read(1) if ready else ""
                    if talk is not None and ch in (" ", "\n", "\r"):
                        talk.go.set()
                    elif ch and not self.key(ch):
                        break
                    live.update(self.render())
        finally:
            if old:
                termios.tcsetattr(fd, termios.TCSADRAIN, old)
            self.stop.set()
            self.restore()  # q, Ctrl-C or a crash: every host comes back
            for probe in self.probes.values():
                probe.stop()
