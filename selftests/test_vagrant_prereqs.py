"""The vagrant provider's prerequisites: versions read from the tools' own words, every
problem named with its fix, memory summed from the plan's VMs."""

from __future__ import annotations

import pytest

from provision import topology
from provision.providers.vagrant import prereqs

PLAN = topology.load()


@pytest.mark.parametrize(("text", "want"), [
    ("Vagrant 2.3.4\n", (2, 3, 4)),
    ("7.0.14r161095\n", (7, 0, 14)),
    ("7.1.4_Debianr165100", (7, 1, 4)),
    ("6.1", (6, 1)),
])
def test_versions_as_the_tools_print_them(text, want):
    assert prereqs.version(text) == want


def test_a_good_pair_has_no_problem():
    assert prereqs.version_problems((2, 4, 3), "virtualbox", (7, 1, 4)) == []
    assert prereqs.version_problems((2, 3, 4), "virtualbox", (7, 0, 14)) == []


def test_each_missing_or_old_tool_is_named_with_its_fix():
    missing = prereqs.version_problems(None, "virtualbox", None)
    assert [p.split(":")[0] for p in missing] == ["vagrant", "VBoxManage"]
    assert all("install" in p for p in missing)
    old = prereqs.version_problems((2, 2, 19), "virtualbox", (6, 0))
    assert "2.2.19 is too old" in old[0] and ">= 2.3.4" in old[0]
    assert "6.0 is too old" in old[1] and ">= 6.1" in old[1]


def test_virtualbox_7_1_needs_a_vagrant_that_knows_it():
    (problem,) = prereqs.version_problems((2, 4, 1), "virtualbox", (7, 1, 0))
    assert "does not support VirtualBox 7.1.0" in problem and ">= 2.4.2" in problem


def test_libvirt_needs_the_plugin_and_a_libvirtd():
    assert prereqs.version_problems((2, 3, 4), "libvirt", None) == []  # no VBoxManage asked for
    assert prereqs.libvirt_problems("vagrant-libvirt (0.11.2, system)\n", "Compiled against library: libvirt 9.0.0") == []
    problems = prereqs.libvirt_problems("No plugins installed.\n", None)
    assert "vagrant plugin install vagrant-libvirt" in problems[0] and "libvirtd" in problems[1]


def test_memory_is_the_sum_of_the_plans_vms():
    need = prereqs.needed_memory_mb(PLAN)
    assert need == sum(getattr(PLAN.roles, h.role).memory_mb for h in PLAN.hosts)
    assert prereqs.memory_problem(PLAN, need + prereqs.HEADROOM_MB) is None
    assert prereqs.memory_problem(PLAN, None) is None  # unknown (Windows): VirtualBox says it
    problem = prereqs.memory_problem(PLAN, need)
    assert f"need {need} MiB" in problem and "memory_mb" in problem and "--plan" in problem
