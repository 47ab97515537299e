"""The Vagrantfile and what it reads: VM definitions derived from the plan, `vagrant
validate` on plans of different sizes, and the VirtualBox fault commands."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from provision import topology
from provision.providers.vagrant import vboxmanage, virsh
from provision.vagrant_data import data
from selftests.conftest import _RAW

ROOT = Path(__file__).resolve().parents[1]
PLAN = topology.load()


def test_every_vm_comes_from_the_plan():
    vms = {vm["name"]: vm for vm in data(PLAN)["hosts"]}
    assert list(vms) == [h.name for h in PLAN.hosts]
    for h in PLAN.hosts:
        vm, spec = vms[h.name], getattr(PLAN.roles, h.role)
        assert (vm["cpus"], vm["memory_mb"]) == (spec.cpus, spec.memory_mb)
        assert [n["intnet"] for n in vm["nics"]] == [f"{PLAN.lab.prefix}-{n.network}" for n in h.nics if n.network != "wan"]
        # the lab NICs are adapters 2, 3, ... in order: VirtualBox then names them as the plan does
        assert [n["adapter"] for n in vm["nics"]] == list(range(2, 2 + len(vm["nics"])))
        assert (vm["store_disk_gb"] is not None) == (h.role == "gluster")
    assert data(PLAN)["box"] == PLAN.vagrant.box


def test_virtualbox_faults_as_argument_lists():
    lb, gw = PLAN.loadbalancers[0], PLAN.gateway
    assert vboxmanage.poweroff(PLAN, lb) == ["VBoxManage", "controlvm", f"{PLAN.lab.prefix}-{lb.name}", "poweroff"]
    assert vboxmanage.start(PLAN, lb) == ["VBoxManage", "startvm", f"{PLAN.lab.prefix}-{lb.name}", "--type", "headless"]
    assert vboxmanage.link_state(PLAN, lb, up=False) == [["VBoxManage", "controlvm", f"{PLAN.lab.prefix}-{lb.name}", "setlinkstate2", "off"]]
    assert [c[3] for c in vboxmanage.link_state(PLAN, gw, up=True)] == ["setlinkstate2", "setlinkstate3", "setlinkstate4",
                                                                       "setlinkstate5"]


def test_libvirt_faults_as_argument_lists():
    lb = PLAN.loadbalancers[0]
    vm, dmz = f"{PLAN.lab.prefix}-{lb.name}", f"{PLAN.lab.prefix}-dmz"
    virsh_ = ["virsh", "-c", "qemu:///system"]
    assert virsh.poweroff(PLAN, lb) == [*virsh_, "destroy", vm]
    assert virsh.start(PLAN, lb) == [*virsh_, "start", vm]
    domiflist = (" Interface   Type      Source    Model    MAC\n"
                 "---------------------------------------------------------------\n"
                 f" vnet0       network   {PLAN.lab.prefix}-mgmt   virtio   52:54:00:00:00:01\n"
                 f" vnet1       network   {dmz}    virtio   52:54:00:00:00:02\n")
    macs = virsh.interface_macs(domiflist, {dmz: "dmz"})
    assert macs == {"dmz": "52:54:00:00:00:02"}  # Vagrant's management NIC is never cut
    assert virsh.link_state(PLAN, lb, macs, up=False) == [[*virsh_, "domif-setlink", vm, "52:54:00:00:00:02", "down"]]


def validate(plan_file: Path | None) -> subprocess.CompletedProcess:
    vagrant = shutil.which("vagrant")
    if vagrant is None:
        pytest.skip("vagrant is not installed (.ci/run installs Debian's)")
    env = {**os.environ, "VAGRANT_CHECKPOINT_DISABLE": "1", "UNDERHOOD_PLAN": str(plan_file or "")}
    return subprocess.run([vagrant, "validate", "--ignore-provider"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


def test_vagrant_validates_the_default_plan():
    res = validate(None)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "validated successfully" in res.stdout


def test_vagrant_validates_a_plan_of_another_size(tmp_path):
    raw = copy.deepcopy(_RAW)
    masters = [h for h in raw["hosts"] if h["role"] == "master"]
    for i in range(4, 6):
        extra = copy.deepcopy(masters[0])
        extra["name"] = f"kube-mast{i:02d}"
        extra["nics"][0]["address"] = f"192.168.1.{10 + i}"
        raw["hosts"].append(extra)
    raw["hosts"] = [h for h in raw["hosts"] if h["name"] not in ("kube-node02", "kube-node03")]
    path = tmp_path / "five-masters.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert len(topology.load(path).masters) == 5
    res = validate(path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "kube-mast05" in res.stdout and "kube-node02" not in res.stdout


def test_vagrant_stops_on_a_broken_plan(tmp_path):
    raw = copy.deepcopy(_RAW)
    raw["vip"]["address"] = "192.168.4.60"
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(raw))
    res = validate(path)
    assert res.returncode != 0
    assert "vip.address" in res.stdout + res.stderr
