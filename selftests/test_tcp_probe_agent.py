"""The chaos suite's TCP probe (provision/agents/tcp_probe.py). It once gave each connect
only 90 % of its 0.1 s interval, one after another: on emulated VMs a connect that took
longer counted as the VIP down (libvirt smoke run 21's gap of 25.8 s). Its attempts now
overlap, each with TCP's 1 s, and a stalled target must not stretch its ticks."""

from __future__ import annotations

import itertools
import json
import socket
import subprocess
import sys

import pytest

from provision.agents import source
from provision.probe import Probe

INTERVAL, DURATION = 0.1, 1.5


def run_probe(port: int) -> list[dict]:
    res = subprocess.run([sys.executable, "-c", source("tcp_probe"), "127.0.0.1", str(port), str(INTERVAL), str(DURATION)],
                         capture_output=True, text=True, timeout=30, check=True)
    return sorted((json.loads(line) for line in res.stdout.splitlines()), key=lambda s: s["t"])


@pytest.fixture
def listener():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    yield server
    server.close()


@pytest.fixture
def stalled():
    """A listener whose accept queue is full: the kernel drops every further SYN, as for a
    VIP whose holder just died."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    held = socket.create_connection(server.getsockname(), timeout=5)
    yield server
    held.close()
    server.close()


def test_a_stalled_target_times_out_without_stretching_the_ticks(stalled):
    samples = run_probe(stalled.getsockname()[1])
    assert samples and {s["result"] for s in samples} == {"timeout"}
    assert min(s["ms"] for s in samples) >= 900, "each attempt waits TCP's 1 s before it counts as lost"
    starts = [s["t"] for s in samples]
    # one attempt at a time would start one a second; overlapping ones keep the interval
    assert len(samples) >= DURATION / INTERVAL / 2
    assert max(b - a for a, b in itertools.pairwise(starts)) < 0.5


def test_control_a_listening_target_answers_every_tick(listener):
    samples = run_probe(listener.getsockname()[1])
    assert len(samples) >= DURATION / INTERVAL / 2
    assert {s["result"] for s in samples} == {"ok"}


def test_a_closed_port_is_refused():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: refused
        samples = run_probe(port)
    assert samples and {s["result"] for s in samples} == {"refused"}


def test_samples_come_back_in_the_order_attempts_began(tmp_path):
    out = tmp_path / "probe.jsonl"
    out.write_text("".join(json.dumps({"t": t, "result": r}) + "\n" for t, r in [(2.0, "ok"), (1.0, "timeout"), (3.0, "ok")]))
    assert [s["t"] for s in Probe(None, "h", "tcp_probe", [], out).samples()] == [1.0, 2.0, 3.0]
