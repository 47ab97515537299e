"""Talk mode, driven in tmux against the running local lab: a key press kills the VIP
holder, the screen shows the VIP on the other node with the measured gap; q restores."""

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
from provision.facts import lb_pair_clean
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


def test_a_key_kills_the_vip_holder_and_the_screen_shows_the_move():
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (.ci/run installs it)")
    lab = LocalProvider(topology.load(), log=lambda *a: None)
    if not lab.container(lab.plan.gateway).running():
        pytest.skip("no local lab is up: run `tox -e provision` first")
    lab.wait_for("a clean load-balancer pair", lambda: lb_pair_clean(lab), 90)
    subprocess.run(["tmux", "kill-session", "-t", SESSION], capture_output=True)
    subprocess.run(["tmux", "new-session", "-d", "-s", SESSION, "-x", "120", "-y", "50",
                    f"cd {ROOT} && {sys.executable} -m provision demo"], check=True)
    try:
        before = wait_screen(r"VIP holder\s+(hapx-\S+)", 30)[1]
        wait_screen(r"answering", 15)
        subprocess.run(["tmux", "send-keys", "-t", SESSION, "v"], check=True)
        wait_screen(rf"{before}\s+loadbalancer\s+DOWN", 15)
        after = wait_screen(rf"VIP holder\s+((?!{before})hapx-\S+)", 60)[1]
        gap = float(wait_screen(r"gap\s+(\d+\.\d+) s", 60)[1])
        assert after != before and gap > 0
        snapshot(ROOT / "reports" / "demo-screenshot.png")
        subprocess.run(["tmux", "send-keys", "-t", SESSION, "q"], check=True)
        # q restores the killed host, then the demo ends and its session with it. Killing the
        # session sooner (the container already running) cut `start` short before the host's
        # links were attached: a host up with no lab NIC.
        lab.wait_for("the demo to end after q", lambda: subprocess.run(["tmux", "has-session", "-t", SESSION],
                                                                       capture_output=True).returncode != 0, 120, 0.5)
        assert lab.container(before).running(), f"{before} not back after q"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", SESSION], capture_output=True)
        if not lab.container(before).running():
            lab.start(before)
    lab.wait_for("a clean load-balancer pair", lambda: lb_pair_clean(lab), 90)
