"""Talk mode, driven in tmux against the running local lab on an 80x24 screen: each key's
fault shows (the VIP on the other node with the measured gap, a new etcd leader, the API
answering without a master, the demo address announced by another worker, a Gluster node
down) and recovers on r; q restores and ends."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from rich.terminal_theme import MONOKAI
from rich.text import Text

from provision import topology
from provision.errors import ProviderError
from provision.facts import kubernetes_settled, lb_pair_clean
from provision.providers.local import LocalProvider
from provision.report import browser
from provision.waiting import until

ROOT = Path(__file__).resolve().parents[2]
SESSION = "uh-demo-selftest"
pytestmark = pytest.mark.lab


def screen() -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", SESSION], capture_output=True, text=True).stdout


def wait_screen(pattern: str, timeout: float) -> re.Match:
    try:
        return until(lambda: re.search(pattern, screen()), timeout, pattern)
    except ProviderError:
        raise AssertionError(f"{pattern!r} never appeared on the screen:\n{screen()}") from None


def snapshot(png: Path) -> None:
    """The screen as a picture (for the README): tmux's cells through rich's HTML export, then
    a headless browser's screenshot."""
    if browser.chromium() is None:
        return
    ansi = subprocess.run(["tmux", "capture-pane", "-p", "-e", "-t", SESSION], capture_output=True, text=True).stdout
    console = Console(record=True, width=100, file=open(os.devnull, "w"))
    console.print(Text.from_ansi(ansi.rstrip()))
    page = png.with_suffix(".html")
    png.parent.mkdir(exist_ok=True)
    page.write_text(console.export_html(inline_styles=True, code_format=HTML, theme=MONOKAI))
    browser.screenshot(f"file://{page}", png, 900, 900)


HTML = ('<html><body style="background:#1e1e1e;margin:12px"><pre style="font-family:monospace;font-size:14px;'
        'color:#ddd;line-height:1.15">{code}</pre></body></html>')


def wait_event_after(newer: str, older: str, timeout: float) -> None:
    """An event line matching ``newer`` above (after) the one matching ``older``: the
    events panel shows the newest first, and an older line may still say the same."""
    def seen() -> bool:
        lines = screen().splitlines()
        at = {pattern: next((i for i, ln in enumerate(lines) if re.search(pattern, ln)), None) for pattern in (newer, older)}
        return at[newer] is not None and at[older] is not None and at[newer] < at[older]
    try:
        until(seen, timeout, newer)
    except ProviderError:
        raise AssertionError(f"{newer!r} never appeared after {older!r}:\n{screen()}") from None


def press(key: str) -> None:
    subprocess.run(["tmux", "send-keys", "-t", SESSION, key], check=True)


def test_every_key_shows_its_fault_and_the_recovery_on_an_80x24_screen():
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (.ci/run installs it)")
    lab = LocalProvider(topology.load(), log=lambda *a: None)
    if not lab.container(lab.plan.gateway).running():
        pytest.skip("no local lab is up: run `tox -e provision` first")
    lab.wait_for("a clean load-balancer pair", lambda: lb_pair_clean(lab), 90)
    subprocess.run(["tmux", "kill-session", "-t", SESSION], capture_output=True)
    subprocess.run(["tmux", "new-session", "-d", "-s", SESSION, "-x", "80", "-y", "24",
                    f"cd {ROOT} && {sys.executable} -m provision demo"], check=True)
    killed: list[str] = []
    try:
        # v (LB-06): the VIP moves to the other node, with the gap measured
        before = wait_screen(r"VIP holder\s+(hapx-\S+)", 30)[1]
        wait_screen(r"API \S+ answering", 15)
        press("v")
        killed.append(before)
        wait_screen(rf"{before} DOWN", 15)
        after = wait_screen(rf"VIP holder\s+((?!{before})hapx-\S+)", 60)[1]
        gap = float(wait_screen(r"gaps: .*API (\d+\.\d+) s", 60)[1])
        assert after != before and gap > 0
        snapshot(ROOT / "reports" / "demo-screenshot.png")
        press("r")
        wait_screen(rf"{before} up", 60)
        # e (ETCD-05): another member leads
        leader = wait_screen(r"etcd leader\s+(kube-\S+)\s+healthy", 60)[1]
        press("e")
        killed.append(leader)
        wait_screen(rf"{leader} DOWN", 15)
        wait_screen(rf"etcd leader\s+((?!{leader})kube-\S+)", 60)
        press("r")
        wait_screen(rf"{leader} up", 60)
        wait_screen(r"etcd leader\s+kube-\S+\s+healthy", 120)
        # m (LB-08): a master down, the API answering through the VIP all the same
        master = lab.plan.masters[-1].name
        press("m")
        killed.append(master)
        wait_screen(rf"{master} DOWN", 15)
        wait_event_after(r"gaps: .*API \d", rf"LB-08: poweroff {master}", 60)
        press("r")
        wait_screen(rf"{master} up", 60)
        # w (MLB-05): another worker announces the demo address
        worker = wait_screen(r"announced by\s+(kube-node\S+)", 60)[1]
        press("w")
        killed.append(worker)
        wait_screen(rf"{worker} DOWN", 15)
        wait_screen(rf"announced by\s+((?!{worker})kube-node\S+)", 60)
        press("r")
        wait_screen(rf"{worker} up", 60)
        # The writer back on its claim (its pod may have run on that worker and restart with
        # it): the next gap is the Gluster node's, not this one's.
        wait_screen(r"claim records\s+writing", 180)
        # g (STO-06): a Gluster node down and back
        gluster = lab.plan.glusters[-1].name
        press("g")
        killed.append(gluster)
        wait_screen(rf"{gluster} DOWN", 15)
        n = len(lab.plan.glusters)
        wait_screen(rf"bricks running: {lab.plan.gluster.volume} {n - 1}/{n} · claim {n - 1}/{n}", 15)
        # the demo's writer on its claim goes on: its gap measured
        wait_event_after(r"gaps: .*claim \d", rf"STO-06: poweroff {gluster}", 60)
        press("q")
        # q restores the killed host, then the demo ends and its session with it. Killing the
        # session sooner (the container already running) cut `start` short before the host's
        # links were attached: a host up with no lab NIC.
        lab.wait_for("the demo to end after q", lambda: subprocess.run(["tmux", "has-session", "-t", SESSION],
                                                                       capture_output=True).returncode != 0, 120, 0.5)
        assert lab.container(gluster).running(), f"{gluster} not back after q"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", SESSION], capture_output=True)
        for host in killed:
            if not lab.container(host).running():
                lab.start(host)
    lab.wait_for("a clean load-balancer pair", lambda: lb_pair_clean(lab), 90)
    # whole again for the self-tests after this one (masters and a worker were down)
    kubernetes_settled(lab, 240)
