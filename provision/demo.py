"""Talk mode: a live dashboard of the running lab for a speaker on stage.

Single keys trigger the documented faults (v: kill the VIP holder, e: kill the etcd leader,
g: kill a Gluster node, r: restore everything, q: restore and quit); the screen shows the
recovery as it happens, with the measured gap."""

from __future__ import annotations

import os
import select
import sys
import termios
import threading
import time
import tty
from collections import deque
from pathlib import Path

from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from provision.facts import etcd_healthy, etcd_leader, vip_holder
from provision.probe import Probe

SPARK = "▁▂▃▄▅▆▇█"
WINDOW_S = 30


class Dashboard:
    def __init__(self, lab, state_dir: Path) -> None:
        self.lab = lab
        self.plan = lab.plan
        self.admin = self.plan.by_role("admin")[0].name
        self.state: dict[str, object] = {"vip": None, "leader": None, "etcd_ok": None, "hosts": {}}
        self.events: deque[str] = deque(maxlen=6)
        self.down: set[str] = set()
        self.fault_at: float | None = None
        self.gap: float | None = None
        self.stop = threading.Event()
        self.probe = Probe(lab, self.admin, "tcp_probe", [str(self.plan.vip.address), str(self.plan.vip.port), "0.1", "3600"],
                           state_dir / "demo-vip-probe.jsonl")

    # -- data -------------------------------------------------------------------------------
    def collect(self) -> None:
        while not self.stop.is_set():
            hosts = {h.name: self.lab.running(h.name) for h in self.plan.hosts}
            via = next((m.name for m in self.plan.masters if hosts[m.name]), None)
            self.state.update(
                hosts=hosts,
                vip=vip_holder(self.lab),
                leader=etcd_leader(self.lab, self.admin) if via else None,
                etcd_ok=etcd_healthy(self.lab, self.admin),
            )
            self.stop.wait(0.5)

    def samples(self) -> list[dict]:
        now = time.time()
        return [s for s in self.probe.samples() if s["t"] > now - WINDOW_S]

    def measure_gap(self, samples: list[dict]) -> None:
        if self.fault_at is None:
            return
        before = [s["t"] for s in samples if s["result"] == "ok" and s["t"] < self.fault_at]
        after = [s["t"] for s in samples if s["result"] == "ok" and s["t"] > self.fault_at + 0.2]
        if before and after:
            self.gap = after[0] - before[-1]
            self.events.appendleft(f"VIP answering again: gap {self.gap:.2f} s")
            self.fault_at = None

    # -- faults -----------------------------------------------------------------------------
    def _fault(self, label: str, host: str | None) -> None:
        if not host:
            self.events.appendleft(f"{label}: nothing to kill")
            return
        self.events.appendleft(f"{time.strftime('%H:%M:%S')} {label}: poweroff {host}")
        self.fault_at = time.time()
        self.gap = None
        self.down.add(host)
        threading.Thread(target=self.lab.poweroff, args=(host,), daemon=True).start()

    def key(self, ch: str) -> bool:
        if ch == "v":
            self._fault("kill VIP holder", self.state["vip"])
        elif ch == "e":
            self._fault("kill etcd leader", self.state["leader"])
        elif ch == "g":
            alive = [g.name for g in self.plan.glusters if self.state["hosts"].get(g.name)]
            self._fault("kill a Gluster node", alive[-1] if alive else None)
        elif ch == "r":
            threading.Thread(target=self.restore, daemon=True).start()
        elif ch == "q":
            return False
        return True

    def restore(self) -> None:
        for host in sorted(self.down):
            self.events.appendleft(f"{time.strftime('%H:%M:%S')} start {host}")
            self.lab.start(host)
        self.down.clear()

    # -- screen -----------------------------------------------------------------------------
    def render(self) -> Group:
        samples = self.samples()
        self.measure_gap(samples)
        ok = [s["result"] == "ok" for s in samples]
        buckets = [ok[i : i + 5] for i in range(0, len(ok), 5)][-60:]
        spark = "".join(SPARK[round(sum(b) / len(b) * (len(SPARK) - 1))] if b else " " for b in buckets)
        last = "answering" if ok and ok[-1] else "NOT answering"
        top = Table.grid(padding=(0, 2))
        top.add_row("VIP holder", Text(str(self.state["vip"] or "nobody"), style="bold magenta"))
        top.add_row(f"VIP {self.plan.vip.address}:{self.plan.vip.port}", Text(last, style="green" if ok and ok[-1] else "bold red"))
        top.add_row(f"last {WINDOW_S} s", Text(spark, style="green"))
        top.add_row("last gap", f"{self.gap:.2f} s" if self.gap else "-")
        top.add_row("etcd leader", Text(str(self.state["leader"] or "none"), style="bold cyan"))
        top.add_row("etcd", "healthy" if self.state["etcd_ok"] else "degraded")
        hosts = Table("host", "role", "state", box=None)
        for h in self.plan.hosts:
            up = self.state["hosts"].get(h.name)
            hosts.add_row(h.name, h.role, Text("running" if up else "DOWN", style="green" if up else "bold red"))
        keys = Text("v kill VIP holder · e kill etcd leader · g kill a Gluster node · r restore all · q quit", style="dim")
        return Group(Panel(top, title="underhood: the lab, live"), Panel(hosts, title="hosts"),
                     Panel("\n".join(self.events) or "-", title="events"), keys)

    def run(self) -> None:
        self.probe.start()
        collector = threading.Thread(target=self.collect, daemon=True)
        collector.start()
        fd = sys.stdin.fileno()
        old = termios.tcgetattr(fd) if os.isatty(fd) else None
        try:
            if old:
                tty.setcbreak(fd)
            with Live(self.render(), refresh_per_second=4, screen=False) as live:
                while True:
                    ready, _, _ = select.select([sys.stdin], [], [], 0.25)
                    if ready and not self.key(sys.stdin.read(1)):
                        break
                    live.update(self.render())
        finally:
            if old:
                termios.tcsetattr(fd, termios.TCSADRAIN, old)
            self.stop.set()
            self.restore()  # q, Ctrl-C or a crash: every host comes back
            self.probe.stop()
