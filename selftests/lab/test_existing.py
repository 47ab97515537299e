"""The existing-lab provider against the local lab, reached over ssh as if someone else had
built it: bad inventories are refused line by line; verify gives the same result as the
local provider, promise by promise; chaos only with --allow-chaos and power commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from selftests.lab.running import running_local_lab

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.lab

LAB = running_local_lab()


def write_inventory(directory: Path, **changes) -> Path:
    (directory / "ssh-config").write_text(LAB.ssh_config())
    target = LAB.outside_target()
    cli = f"env PYTHONPATH={ROOT} {sys.executable} -m provision"
    data = {
        "ssh_config": "ssh-config",
        "haproxy_stats_password": LAB.stats_password(),
        # the outside as a user would describe it: no access to its resolver's log
        "outside": {"address": target.address, "port": target.port, "name": target.name, "source": target.expected_source},
        "power": {h.name: {"poweroff": f"{cli} poweroff --provider local {h.name}",
                           "poweron": f"{cli} start --provider local {h.name}"} for h in LAB.plan.hosts},
    }
    data.update(changes)
    path = directory / "inventory.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def pytest_run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "addopts=", "-q", "--tb=line", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=900, env={**os.environ, **(env or {})})


def statuses(provider: str) -> dict[str, str]:
    data = json.loads((ROOT / "reports" / "promises" / f"{provider}-tests.json").read_text())
    return {row["id"]: row["status"] for row in data["promises"]}


def test_bad_inventories_are_refused_line_by_line(tmp_path):
    hosts_cfg = "\n".join(b for b in LAB.ssh_config().split("\n\n") if not b.startswith(f"Host {LAB.plan.masters[0].name}\n"))
    (tmp_path / "partial").write_text(hosts_cfg)
    bad = write_inventory(tmp_path, ssh_config="partial", colour="blue", power={"kube-mast01": {"poweroff": "true"}})
    res = pytest_run("tests/test_plan.py", "tests/test_etcd.py", "--provider", "existing", "--inventory", str(bad))
    assert res.returncode == 2, res.stdout[-2000:]
    out = res.stdout + res.stderr
    assert f"{LAB.plan.masters[0].name}: the plan's host is missing from the inventory" in out
    assert "colour: unknown key" in out and "power.kube-mast01: give both poweroff: and poweron:" in out


def test_existing_cannot_build_or_remove(tmp_path):
    inv = write_inventory(tmp_path)
    for verb in ("up", "down"):
        res = subprocess.run([sys.executable, "-m", "provision", verb, "--provider", "existing", "--inventory", str(inv)],
                             cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert res.returncode == 2 and "only connects" in res.stderr


def test_verify_over_ssh_equals_verify_local_promise_by_promise(tmp_path):
    inv = write_inventory(tmp_path)
    local = pytest_run("tests", "-n", "2", "--provider", "local")
    assert local.returncode == 0, local.stdout[-3000:]
    existing = pytest_run("tests", "-n", "2", "--provider", "existing", "--inventory", str(inv))
    assert existing.returncode == 0, existing.stdout[-3000:]
    assert statuses("existing") == statuses("local")
    report = json.loads((ROOT / "reports" / "promises" / "existing-tests.json").read_text())
    assert report["provider"] == "existing" and report["inventory"] == str(inv)


def test_chaos_needs_an_explicit_opt_in(tmp_path):
    inv = write_inventory(tmp_path)
    refused = pytest_run("chaos/test_loadbalancer.py", "--provider", "existing", "--inventory", str(inv))
    assert refused.returncode == 2 and "needs --allow-chaos" in refused.stdout + refused.stderr
    allowed = pytest_run("chaos/test_loadbalancer.py", "-k", "vip_moves", "--provider", "existing", "--inventory", str(inv),
                         "--allow-chaos", env={"CHAOS_VIP_RUNS": "1"})
    assert allowed.returncode == 0, allowed.stdout[-3000:]
    assert "1 passed" in allowed.stdout


def diff(inventory: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "provision", *args, "diff", "--provider", "existing", "--inventory", str(inventory)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "200"})


def test_the_dry_run_finds_the_local_lab_complete_and_a_departure_missing(tmp_path):
    """Over ssh and read only: the lab `up` built lacks nothing of its plan; against a plan
    that asks one more CoreDNS replica, that step (and only it) is missing."""
    inv = write_inventory(tmp_path)
    res = diff(inv)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert "nothing missing" in res.stdout and "MISSING" not in res.stdout
    raw = yaml.safe_load((ROOT / "provision" / "lab.yaml").read_text())
    want = raw["kubernetes"]["coredns_replicas"] + 1
    raw["kubernetes"]["coredns_replicas"] = want
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(raw))
    res = diff(inv, "--plan", str(tmp_path / "plan.yaml"))
    assert res.returncode == 1, res.stdout[-3000:] + res.stderr[-2000:]
    assert f"the plan has {want}" in res.stdout and res.stdout.count("MISSING") == 1
