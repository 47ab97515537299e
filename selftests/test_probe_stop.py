"""Probe.stop waits for the whole process group: the launcher (nsenter on local) may die at
once on SIGTERM while the agent still finishes and prints its last line. Reading the samples
before that line once failed an etcd audit (a write applied but not in the history)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from provision.probe import Probe, lifetime
from provision.waiting import until

#: A launcher that dies on SIGTERM at once, and an "agent" that prints its last line 1 s
#: after its own SIGTERM.
LAUNCHER = r'''
import signal, subprocess, sys
agent = "import signal, sys, time\n" \
        "def last(*_):\n    time.sleep(1); print('last', flush=True); sys.exit(0)\n" \
        "signal.signal(signal.SIGTERM, last)\nprint('ready', flush=True)\ntime.sleep(60)\n"
subprocess.Popen([sys.executable, "-c", agent])
signal.pause()
'''


class Here:
    def spawn(self, host: str, argv: list[str], output: Path) -> subprocess.Popen:
        with open(output, "wb") as out:
            return subprocess.Popen([sys.executable, "-c", LAUNCHER], stdout=out, stderr=subprocess.DEVNULL, start_new_session=True)


def test_stop_returns_after_the_agents_last_line(tmp_path):
    out = tmp_path / "probe.jsonl"
    probe = Probe(Here(), "h", "tcp_probe", [], out).start()
    until(lambda: "ready" in out.read_text(), 10, "the agent ready")
    probe.stop()
    assert out.read_text().split() == ["ready", "last"]


class _Lab:
    def __init__(self, wait_scale: float) -> None:
        self.wait_scale = wait_scale


def test_a_probe_lives_longer_on_a_slower_lab():
    # the smoke's VMs answer 5 times slower; the probe must outlive the waits on it
    assert lifetime(_Lab(5), 40) == "200"
    # control: hardware keeps the scenario's own bound, and fractions stay exact
    assert lifetime(_Lab(1.0), 40) == "40"
    assert lifetime(_Lab(1.0), 12.5) == "12.5"
