"""The settle wait after a fault: the full window when a container restarted, only the
kubelets' next leases when nothing changed since before the fault."""

from __future__ import annotations

import json
import time

import pytest

from provision import topology
from provision.errors import ProviderError
from provision.facts import kubernetes_settled, kubernetes_shape
from provision.providers.base import Result
from selftests.conftest import ContractOnly

PLAN = topology.load()
NODES = [h.name for h in (*PLAN.masters, *PLAN.workers)]
WINDOW = 1.0


class Cluster(ContractOnly):
    """A whole cluster of one pod whose kubelets renew their leases on every second read."""

    name = "cluster"

    def __init__(self) -> None:
        super().__init__(PLAN)
        self.restarts = 0
        self.lease_reads = 0

    def run(self, host, argv, *, timeout=60, input=None):
        if argv[-3:] == ["leases", "-o", "json"]:
            self.lease_reads += 1
            renewed = str(self.lease_reads // 2)
            items = [{"metadata": {"name": n}, "spec": {"renewTime": renewed}} for n in NODES]
        elif "nodes" in argv:
            items = [{"metadata": {"name": n}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}} for n in NODES]
        else:
            items = [{"metadata": {"uid": "u1", "namespace": "kube-system"}, "spec": {"nodeName": NODES[0]},
                      "status": {"phase": "Running",
                                 "containerStatuses": [{"name": "c", "ready": True, "restartCount": self.restarts}]}}]
        return Result(0, json.dumps({"items": items}), "")

    def wait_for(self, what, check, timeout, interval=0.2):
        return super().wait_for(what, check, timeout, interval=0.05)


def settle_time(lab: Cluster, before) -> float:
    start = time.monotonic()
    kubernetes_settled(lab, 5, window=WINDOW, unchanged_since=before)
    return time.monotonic() - start


def test_nothing_changed_since_before_the_fault_waits_only_for_the_leases():
    lab = Cluster()
    before = kubernetes_shape(lab)
    time.sleep(WINDOW)  # the fault, as long as the window
    assert settle_time(lab, before) < WINDOW / 2


def test_a_container_restarted_during_the_fault_waits_the_whole_window():
    lab = Cluster()
    before = kubernetes_shape(lab)
    time.sleep(WINDOW)
    lab.restarts = 1
    assert settle_time(lab, before) >= WINDOW


def test_a_fault_shorter_than_the_window_waits_out_the_rest():
    lab = Cluster()
    before = kubernetes_shape(lab)
    settle_time(lab, before)
    assert time.monotonic() - before.at >= WINDOW


def test_no_lease_renewed_is_never_settled():
    lab = Cluster()
    lab.run = lambda host, argv, **kw: (Result(0, json.dumps({"items": [{"metadata": {"name": n}, "spec": {"renewTime": "0"}}
                                                                        for n in NODES]}), "")
                                        if argv[-3:] == ["leases", "-o", "json"] else Cluster.run(lab, host, argv, **kw))
    before = kubernetes_shape(lab)
    time.sleep(WINDOW)
    with pytest.raises(ProviderError, match="settled") as caught:
        kubernetes_settled(lab, 0.5, window=WINDOW, unchanged_since=before)
    # whole all along: the error says it was the window that was not kept
    assert "whole now" in str(caught.value)


def test_a_cluster_never_whole_names_what_held_it():
    lab = Cluster()
    pending = {"metadata": {"name": "controller-b", "uid": "u2", "namespace": "metallb-system"}, "spec": {},
               "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}],
                          "containerStatuses": [{"name": "controller", "ready": False, "restartCount": 4,
                                                 "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}}}]}}
    lab.run = lambda host, argv, **kw: (Result(0, json.dumps({"items": [pending]}), "")
                                        if argv[-4:] == ["pods", "-A", "-o", "json"] else Cluster.run(lab, host, argv, **kw))
    with pytest.raises(ProviderError, match=r"(?s)settled.*\nmetallb-system/controller-b Running: controller CrashLoopBackOff"):
        kubernetes_settled(lab, 0.3, window=WINDOW)
