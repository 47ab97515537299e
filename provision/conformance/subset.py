"""Which of Kubernetes' e2e tests a run takes, and which of them witness one of the
documents' promises.

Two passes. The [Conformance] tests: focused on what the documents promise of the cluster
(DNS, Services, pod networking across nodes, pods and containers through their lifecycle,
ConfigMaps and Secrets: 85 tests in v1.36.3), or all of them. Then the storage suites against
the lab's driver, as a CSI driver's own CI runs them ("External Storage", a driver definition
and a class of the lab's parameters): no [Conformance] test makes a volume of a class."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import yaml

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
    "STO-04": (r"External Storage \[Driver: [^\]]+\] \[Testpattern: Dynamic PV \(default fs\)\] volumes should store data",),
    "STO-07": (r"External Storage \[Driver: [^\]]+\] \[Testpattern: Dynamic PV \(default fs\)\(allowExpansion\)\] volume-expand "
               r"should resize volume when PVC is edited while pod is using it",),
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


#: The storage suites' patterns taken for the lab's class: a volume made, written, read,
#: shared and grown; features the lab's driver lacks skip themselves by its capabilities.
STORAGE_SUITES = ("provisioning", "volumes", "volume-expand", "multiVolume")
#: Tests that cannot run here (in any pass), and why: left out, and said so.
CANNOT_RUN = {
    "ImageVolume should succeed with pod and pull policy of Always": "an image volume needs containerd 2.1 (Debian 12 "
                                                                    "has 1.6), and pull policy Always a registry",
    "should provision storage with any volume data source": "it runs the volume populator's images (hello-populator, "
                                                            "volume-data-source-validator), which underhood does not make",
}
#: Left out of every pass: tests that break the cluster on purpose or need a feature gate,
#: and those that cannot run here.
SKIP = "|".join([r"\[Disruptive\]", r"\[Feature:", r"\[Flaky\]", *(re.escape(t) for t in CANNOT_RUN)])


#: ginkgo's bound on a pass: the focused subset took 7 to 20 min here, the storage pass 2 to
#: 18, the whole [Conformance] set 63 min (runs 10 and 11): about three times that.
FOCUSED_S, FULL_S, STORAGE_S = 2 * 3600, 3 * 3600, 3600


@dataclass(frozen=True)
class Pass:
    name: str
    ginkgo: tuple[str, ...]  # the selection, as ginkgo's flags
    e2e: tuple[str, ...]  # e2e.test's own flags for it
    selected: Callable[[str], bool]  # the tests of the pass, by name (the JUnit lists every spec)
    timeout_s: int


def storage_focus(driver: str) -> str:
    # "(default fs)" and "(default fs)(allowExpansion)", where the expansion tests are
    return (rf"External Storage \[Driver: {re.escape(driver)}\] \[Testpattern: Dynamic PV \(default fs\)(\(allowExpansion\))?\] "
            rf"({'|'.join(re.escape(s) for s in STORAGE_SUITES)}) ")


def storage_class(plan) -> str:
    """The class the storage suites make theirs from: the lab's own (its provisioner, the
    documents' parameters), reclaimPolicy Delete. The suites delete what they make and
    refuse a class that keeps it; the lab's Retain is STO-07's own test."""
    from provision.roles import gluster

    (sc,) = [d for d in yaml.safe_load_all(gluster.storage_class(plan)) if d and d["kind"] == "StorageClass"]
    sc["metadata"]["name"] = f"{sc['metadata']['name']}-e2e"
    sc["reclaimPolicy"] = "Delete"
    return yaml.safe_dump(sc, sort_keys=False)


def driver_definition(plan, class_file: str) -> str:
    """The storage suites' description of the lab's driver (test/e2e/storage/external): the
    class they copy (``class_file``: storage_class's), what the driver can do (a CSI driver of
    ours: replicated volumes any node mounts, grown online by the controller alone), its
    sizes (whole GiB)."""
    sc = plan.gluster.storage_class
    return yaml.safe_dump({
        "StorageClass": {"FromFile": class_file},
        "DriverInfo": {"Name": sc.provisioner, "SupportedSizeRange": {"Min": "1Gi", "Max": "4Gi"},
                       "Capabilities": {"persistence": True, "exec": True, "multipods": True, "RWX": True,
                                        "controllerExpansion": sc.allow_volume_expansion,
                                        "onlineExpansion": sc.allow_volume_expansion, "nodeExpansion": False}},
    }, sort_keys=False)


def passes(plan, full: bool, driver_file: str, only: str | None = None) -> list[Pass]:
    """The run's passes; ``only``: just the [Conformance] tests matching it (again after a
    fix, say), and no storage pass."""
    if only:
        return [Pass("conformance", (f"--label-filter={LABEL}", f"--focus={only}"), (),
                     lambda n: f"[{LABEL}]" in n and re.search(only, n) is not None, FULL_S)]
    conformance = Pass("conformance", (*ginkgo_selection(full), f"--skip={SKIP}"), (),
                       lambda n: f"[{LABEL}]" in n and (full or in_focus(n)) and re.search(SKIP, n) is None,
                       FULL_S if full else FOCUSED_S)
    focus = storage_focus(plan.gluster.storage_class.provisioner)
    storage = Pass("storage", (f"--focus={focus}", f"--skip={SKIP}"), (f"--storage.testdriver={driver_file}",),
                   lambda n: re.search(focus, n) is not None and re.search(SKIP, n) is None, STORAGE_S)
    return [conformance, storage]
