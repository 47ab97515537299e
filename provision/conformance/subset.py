"""Which of Kubernetes' [Conformance] tests the focused run takes, and which of them witness
one of the documents' promises.

The focus is what the documents promise of the cluster: DNS, Services, pod networking across
nodes, pods and containers through their lifecycle, ConfigMaps and Secrets (85 tests in
v1.36.3). Persistent volumes have no [Conformance] test for a StorageClass; the lab's class
is the storage tests' business (tests/test_claims.py)."""

from __future__ import annotations

import re

#: ginkgo's regular expression over the tests' full text (each area ends at a space, so
#: "[sig-node] Pods" takes "Pods Extended" too, and "Container" alone takes nothing).
FOCUS_AREAS = {
    "sig-network": ("DNS", "Services", "Networking"),
    "sig-node": ("Pods", "Containers", "Container Lifecycle Hook", "Container Runtime", "ConfigMap", "Secrets"),
    "sig-storage": ("ConfigMap", "Secrets"),
}
LABEL = "Conformance"

#: e2e tests (a regular expression over their names) that check what one of our promises
#: says, with its own means: listed under that promise in the report as a second witness.
WITNESSES: dict[str, tuple[str, ...]] = {
    "K8S-06": (r"\[sig-network\] Networking Granular Checks: Pods should function for intra-pod communication",
               r"\[sig-network\] Networking Granular Checks: Pods should function for node-pod communication"),
    "K8S-07": (r"\[sig-network\] DNS should provide DNS for the cluster ", r"\[sig-network\] DNS should provide DNS for services "),
    "K8S-09": (r"\[sig-network\] Services should serve a basic endpoint from pods ",
               r"\[sig-network\] Services should be able to create a functioning NodePort service "),
    "K8S-11": (r"\[sig-node\] Pods should support remote command execution over websockets ",
               r"\[sig-node\] Pods should support retrieving logs from the container over websockets "),
}


def focus() -> str:
    return "|".join(rf"\[{sig}\] ({'|'.join(re.escape(a) for a in areas)}) " for sig, areas in FOCUS_AREAS.items())


def ginkgo_selection(full: bool) -> list[str]:
    """ginkgo's flags for the run: every [Conformance] test, or the focused subset."""
    selection = [f"--label-filter={LABEL}"]
    return selection if full else [*selection, f"--focus={focus()}"]


def in_focus(name: str) -> bool:
    return re.search(focus(), name) is not None


def witnessed(name: str) -> list[str]:
    """The promises an e2e test (by its name) is a witness of."""
    return [pid for pid, patterns in WITNESSES.items() if any(re.search(p, name + " ") for p in patterns)]
