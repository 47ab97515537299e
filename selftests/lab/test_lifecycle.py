"""Self-tests of the local provider's lifecycle on this machine (root, nspawn): an `up`
killed halfway is cleaned up by `down`; `up` on a built lab changes nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from provision import topology
from provision.providers.local import LocalProvider
from provision.providers.local.container import hierarchies
from provision.system import links_with_prefix, mounts_under, netns_list
from provision.waiting import until

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.lab

if os.geteuid() != 0 or not Path("/usr/bin/systemd-nspawn").exists():
    pytest.skip("the local provider's lifecycle needs root and systemd-nspawn", allow_module_level=True)


@pytest.fixture(scope="module")
def provider() -> LocalProvider:
    return LocalProvider(topology.load(), log=lambda *a: None)


def provision(*verb: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "provision", *verb], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def leftovers(p: LocalProvider) -> dict[str, list[str]]:
    prefix = f"{p.prefix}-"
    procs = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                state = next(ln for ln in (proc / "status").read_text().splitlines() if ln.startswith("State:"))
            except (OSError, StopIteration):
                continue
            if f"--machine={prefix}" in cmd and " Z " not in state:
                procs.append(f"{proc.name}: {cmd[:80]}")
    cgroups = [str(d) for ctl in hierarchies() for d in Path(f"/sys/fs/cgroup/{ctl}").glob(f"{prefix}*")]
    routes = subprocess.run(["ip", "route", "show", "type", "unreachable"], capture_output=True, text=True).stdout.split("\n")
    return {
        "links": links_with_prefix(prefix),
        "netns": netns_list(prefix),
        "mounts": mounts_under(Path("/var/lib/underhood")),
        "cgroups": cgroups,
        "processes": procs,
        "nspawn runtime": [str(d) for d in Path("/run/systemd/nspawn/propagate").glob(f"{prefix}*")],
        "state": [str(p.state)] if p.state.exists() else [],
        "guard routes": [r for r in routes if r.strip() and r.split()[1] in p._guarded_ranges()],
    }


def test_interrupted_up_then_down_leaves_nothing(provider):
    assert provision("down").returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "provision", "up"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        # Kill it once several hosts are booting: the worst moment to be interrupted.
        def booting() -> bool:
            assert proc.poll() is None, "up ended before it could be interrupted"
            return sum(provider.container(h).running() for h in provider.plan.hosts) >= 4

        until(booting, 240, "hosts booting, to interrupt", interval=0.1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    assert any(leftovers(provider).values()), "the interrupted up left nothing to clean: the test proves nothing"
    res = provision("down")
    assert res.returncode == 0, res.stderr
    assert {k: v for k, v in leftovers(provider).items() if v} == {}


def test_up_twice_changes_nothing_the_second_time(provider):
    first = provision("up")
    assert first.returncode == 0, first.stderr[-2000:]
    assert json.loads((provider.state / "last-up.json").read_text())["changes"], "a first up changed nothing?"
    second = provision("up")
    assert second.returncode == 0, second.stderr[-2000:]
    assert json.loads((provider.state / "last-up.json").read_text())["changes"] == []
    res = provision("down")
    assert res.returncode == 0, res.stderr
    assert {k: v for k, v in leftovers(provider).items() if v} == {}
