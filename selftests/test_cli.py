"""`python -m provision check`: the table and errata on the default plan; exit 2 and one
line naming the field on broken plans."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from selftests.conftest import _RAW

ROOT = Path(__file__).resolve().parents[1]


def check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "provision", "check", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"COLUMNS": "160", "PATH": "/usr/bin:/bin"},
    )


def test_check_prints_plan_and_errata():
    res = check()
    assert res.returncode == 0, res.stderr
    for text in ("gate-node01", "kube-mast03", "192.168.4.20", "DOC-01", "DOC-06", "etcd 3 members"):
        assert text in res.stdout
    assert "every value of this plan is the documents'" in res.stdout


def test_check_lists_where_a_plan_departs_from_the_documents(tmp_path):
    def edit(raw: dict) -> None:
        raw["corosync"]["token"] = 5000
        raw["metallb"]["end"] = "192.168.2.40"

    res = check("--plan", str(_broken(tmp_path, "changed", edit)))
    assert res.returncode == 0, res.stderr
    assert "Departures from the documents' lab (2)" in res.stdout
    assert re.search(r"corosync\.token\s.*3000\s.*5000", res.stdout)
    assert re.search(r"metallb\.end\s.*192\.168\.2\.49\s.*192\.168\.2\.40", res.stdout)


def _broken(tmp_path: Path, name: str, edit) -> Path:
    import copy

    raw = copy.deepcopy(_RAW)
    edit(raw)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


BROKEN = {
    "vip-in-dhcp": (lambda r: r["vip"].update(address="192.168.4.100"), "vip.address"),
    "unknown-key": (lambda r: r["lab"].update(colour="blue"), "lab.colour"),
    "duplicate-host": (lambda r: r["hosts"][2].update(name="hapx-node01"), "hosts[2].name"),
    "pool-outside-node": (lambda r: r["metallb"].update(start="192.168.3.10", end="192.168.3.20"), "metallb.start"),
    "pod-overlap": (lambda r: r["lab"].update(pod_cidr="192.168.0.0/17"), "lab.pod_cidr"),
}


@pytest.mark.parametrize("name", BROKEN)
def test_check_refuses_broken_plans_with_one_line(tmp_path, name):
    edit, field = BROKEN[name]
    res = check("--plan", str(_broken(tmp_path, name, edit)))
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and field in lines[0], res.stderr


def test_malformed_yaml_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("lab: [\n")
    res = check("--plan", str(bad))
    assert res.returncode == 2 and "line" in res.stderr


def test_a_provider_that_is_not_installed_is_named():
    res = subprocess.run([sys.executable, "-m", "provision", "up", "--provider", "vagrant"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 2
    assert "vagrant provider" in res.stderr and "--provider local" in res.stderr
