"""Chaos verdicts that must not turn a broken lab into a skip or claim what was not shown:
MLB-05 with a LoadBalancer service that has no address, the random scenario's claims, the
control beside ETCD-06's refusals."""

from __future__ import annotations

import types

import pytest

from chaos.test_etcd import cut_off_shown
from chaos.test_kubernetes import announced_address
from chaos.test_random import exercised
from provision import topology

PLAN = topology.load()


def test_a_loadbalancer_service_without_an_address_fails_mlb05():
    with pytest.raises(AssertionError, match="MLB-05: the demo LoadBalancer service has no address"):
        announced_address({"status": {"loadBalancer": {}}})
    assert announced_address({"status": {"loadBalancer": {"ingress": [{"ip": "192.168.2.10"}]}}}) == "192.168.2.10"


def test_no_demo_service_skips_mlb05():
    with pytest.raises(pytest.skip.Exception, match="no demo LoadBalancer service"):
        announced_address(None)


def test_a_random_round_claims_only_what_it_exercised():
    holder, passive = (h.name for h in PLAN.loadbalancers)
    glus, master = PLAN.glusters[0].name, PLAN.masters[0].name
    assert exercised(PLAN, [passive, glus], holder) == []  # the passive node and a Gluster node: nothing shown
    assert exercised(PLAN, [holder], holder) == ["LB-06"]
    assert exercised(PLAN, [master, glus], holder) == ["ETCD-03"]
    assert "STO-06" not in exercised(PLAN, [holder, master, glus], holder)


def result(ok: bool, stdout: str = "", stderr: str = "") -> types.SimpleNamespace:
    return types.SimpleNamespace(ok=ok, stdout=stdout, stderr=stderr)


def test_etcd06_refusals_count_only_beside_a_member_that_answers_and_is_behind():
    assert cut_off_shown("kube-mast02", result(True, "41\n"), result(True, "")) == []
    # merely unreachable: no answer at all, so its "refusals" are no evidence
    unreachable = cut_off_shown("kube-mast02", result(False, stderr="context deadline exceeded"), result(False, stderr="context deadline exceeded"))
    assert len(unreachable) == 2 and "does not answer at all" in unreachable[0]
    # not cut off: it has the majority's later write
    assert "it is not cut off" in cut_off_shown("kube-mast02", result(True, "41"), result(True, "majority\n"))[0]
