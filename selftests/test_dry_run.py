"""The dry run of the Kubernetes steps (`python -m provision diff`): against a lab that
answers as a complete one it finds nothing missing; take one thing away and it names that
step and host, and only those; it sends only reads; the existing provider refuses writes."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import yaml

from provision import topology
from provision.errors import ProviderError
from provision.providers.base import Result
from provision.providers.existing import ExistingProvider
from provision.providers.inventory import Inventory
from provision.roles import addons as manifests
from provision.roles.master import ETCD_PKI
from provision.steps import converge, etcd, pending
from provision.steps.addons import CONTROL_PLANE
from selftests.conftest import ContractOnly

PLAN = topology.load()
VERSION = f"v{PLAN.versions.kubernetes}"
NODES = [h.name for h in (*PLAN.masters, *PLAN.workers)]
#: The commands a dry run may send (their first words, options with values left out): each
#: reads and changes nothing.
READS = ("kubeadm version", "kubelet --version", "kubectl version --client", "systemctl is-active", "test -x", "test -f",
         "kubectl get", "kubectl rollout status", "etcdctl endpoint health", "etcdctl member list")


def _objects(text: str) -> set[tuple[str, str | None, str]]:
    return {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]) for d in yaml.safe_load_all(text) if d}


class BuiltLab(ContractOnly):
    """A lab as the plan's steps leave it, answering the commands a dry run sends; a test
    takes one thing away."""

    name = "built"

    def __init__(self) -> None:
        super().__init__(PLAN)
        self.version = {h: VERSION for h in NODES}
        self.containerd = set(NODES)
        self.files = {(PLAN.masters[0].name, f"{ETCD_PKI}/ca.crt"), (PLAN.masters[0].name, "/etc/kubernetes/admin.conf")}
        self.files |= {(h, "/opt/cni/bin/flannel") for h in NODES}
        self.files |= {(m.name, "/etc/kubernetes/manifests/etcd.yaml") for m in PLAN.masters}
        self.files |= {(a.name, f"{etcd.CLIENT_DIR}/client.crt") for a in PLAN.by_role("admin")}
        self.registered = set(NODES)
        self.ready = set(NODES)
        self.members = len(PLAN.masters)
        self.coredns = {"replicas": PLAN.kubernetes.coredns_replicas,
                        "template": {"spec": {"nodeSelector": {CONTROL_PLANE: ""},
                                              "tolerations": [{"key": CONTROL_PLANE, "effect": "NoSchedule"}]}}}
        self.crds = True
        self.objects = set()
        for text in (manifests.flannel(PLAN, "x"), manifests.metallb_system(PLAN, "x", "x"), manifests.metallb(PLAN),
                     manifests.demo(PLAN, "x")):
            self.objects |= _objects(text)
        self.rolled_out = {"coredns", "demo", "controller", manifests.RECORDS_WRITER}
        self.demo_claim = True
        self.storage_class = True
        self.csi_registered = {w.name for w in PLAN.workers}
        self.sent: list[str] = []

    def run(self, host, argv, *, timeout=60, input=None):
        line = shlex.join(argv)
        self.sent.append(line)
        if argv[0] == "kubectl" and argv[1].startswith("--kubeconfig"):
            return self._kubectl(argv[2:], input)
        if argv[0] == "env" and "etcdctl" in argv:
            return self._etcdctl(argv[argv.index("etcdctl") + 1:])
        if argv[:2] == ["kubeadm", "version"]:
            return self._version(host, f"{self.version[host]}\n")
        if argv[:2] == ["kubelet", "--version"]:
            return self._version(host, f"Kubernetes {self.version[host]}\n")
        if argv[:2] == ["kubectl", "version"]:
            return self._version(host, f"Client Version: {self.version[host]}\nKustomize Version: v5.7.1\n")
        if argv[:2] == ["systemctl", "is-active"]:
            return Result(0 if host in self.containerd else 3, "", "")
        if argv[0] == "test":
            return Result(0 if (host, argv[2]) in self.files else 1, "", "")
        raise AssertionError(f"the dry run sent a command nobody expects: {line}")

    def _version(self, host: str, out: str) -> Result:
        return Result(0, out, "") if self.version[host] else Result(127, "", "not found")

    def _etcdctl(self, args: list[str]) -> Result:
        args = [a for a in args if not a.startswith("--")]
        if args[:2] == ["endpoint", "health"]:
            return Result(0, "healthy\n", "")
        return Result(0, json.dumps({"members": [{"ID": i} for i in range(self.members)]}), "")

    def _kubectl(self, args: list[str], input: str | None) -> Result:
        if args[0] == "-n":
            args = args[2:]  # one namespace per name here
        if args[:2] == ["get", "node"]:
            return Result(0, f"node/{args[2]}\n", "") if args[2] in self.registered else Result(1, "", "NotFound")
        if args[:2] == ["get", "nodes"]:
            conditions = lambda n: [{"type": "Ready", "status": "True" if n in self.ready else "False"}]  # noqa: E731
            items = [{"metadata": {"name": n}, "status": {"conditions": conditions(n)}} for n in sorted(self.registered)]
            return Result(0, json.dumps({"items": items}), "")
        if args[:3] == ["get", "deployment", "coredns"]:
            return Result(0, json.dumps({"spec": self.coredns}), "")
        if args[0] == "rollout":
            name = args[2].split("/")[1]
            return Result(0 if name in self.rolled_out else 1, "", "")
        if args[0] == "get" and args[1].startswith("crd/"):
            return Result(0 if self.crds else 1, "", "")
        if args[:2] == ["get", "pvc"]:
            return Result(0 if self.demo_claim else 1, "", "")
        if args[:2] == ["get", "storageclass"]:
            return Result(0 if self.storage_class else 1, "", "")
        if args[:2] == ["get", "csinode"]:
            drivers = [{"name": PLAN.gluster.storage_class.provisioner}] if args[2] in self.csi_registered else []
            return Result(0, json.dumps({"spec": {"drivers": drivers}}), "")
        if args[0] == "get" and "-f" in args:
            have = [{"kind": k, "metadata": {"name": n, **({"namespace": ns} if ns else {})}}
                    for k, ns, n in _objects(input) & self.objects]
            return Result(0, json.dumps({"kind": "List", "items": have}) if have else "", "")
        raise AssertionError(f"kubectl {args}")


def missing(lab: BuiltLab) -> dict[tuple[str, str], tuple[str, ...]]:
    return {(f.step, f.host): f.missing for f in pending.kubernetes_steps(lab) if not f.done}


def test_a_complete_lab_misses_nothing_and_every_step_and_node_is_looked_at():
    lab = BuiltLab()
    findings = pending.kubernetes_steps(lab)
    assert [f for f in findings if not f.done] == []
    # Every step of `up` and every node are looked at.
    assert {f.step for f in findings} == {converge.RUNTIME, converge.ETCD_CA, converge.CLUSTER, converge.ETCD, converge.ADDONS,
                                          converge.STORAGE}
    assert {f.host for f in findings if f.step == converge.RUNTIME} == set(NODES)


def _read_only(command: str) -> bool:
    words, rest = [], shlex.split(command)
    while rest:
        w = rest.pop(0)
        if w == "-n":
            rest.pop(0)
        elif w != "env" and "=" not in w:
            words.append(w)
    return " ".join(words).startswith(READS)


def test_the_dry_run_sends_only_reads():
    lab = BuiltLab()
    pending.kubernetes_steps(lab)
    assert lab.sent
    assert [c for c in lab.sent if not _read_only(c)] == []


def test_the_read_only_check_sees_a_write():
    """The failing side of the check above."""
    assert not _read_only("kubectl --kubeconfig=/etc/kubernetes/admin.conf apply -f /tmp/x.yaml")
    assert not _read_only("systemctl restart containerd")


@pytest.mark.parametrize(("take_away", "expected"), [
    (lambda lab: lab.version.update({NODES[-1]: "v1.35.0"}),
     {(converge.RUNTIME, NODES[-1]): (f"kubeadm is not {VERSION} (v1.35.0)", f"kubelet is not {VERSION} (Kubernetes v1.35.0)",
                                      f"kubectl is not {VERSION} (Client Version: v1.35.0)")}),
    (lambda lab: lab.containerd.discard(NODES[0]), {(converge.RUNTIME, NODES[0]): ("containerd not running",)}),
    (lambda lab: lab.registered.discard(PLAN.workers[0].name),
     # The add-ons step waits for every node Ready: it has that left to do too.
     {(converge.CLUSTER, PLAN.workers[0].name): ("not joined",), (converge.ADDONS, "cluster"): ("not every node Ready",)}),
    (lambda lab: lab.files.discard((PLAN.masters[1].name, "/etc/kubernetes/manifests/etcd.yaml")),
     {(converge.CLUSTER, PLAN.masters[1].name): ("not joined",)}),
    (lambda lab: setattr(lab, "members", len(PLAN.masters) - 1),
     {(converge.ETCD, "cluster"): ("not healthy, or not a member per master",)}),
    (lambda lab: lab.coredns.update(replicas=1),
     {(converge.ADDONS, "cluster"): (f"CoreDNS: 1 replicas, the plan has {PLAN.kubernetes.coredns_replicas}",)}),
    (lambda lab: (lab.objects.discard(("Deployment", "demo", "demo")), lab.rolled_out.discard("demo")),
     {(converge.ADDONS, "cluster"): ("demo: Deployment/demo/demo", "demo not rolled out")}),
    (lambda lab: lab.objects.discard(("IPAddressPool", "metallb-system", PLAN.metallb.pool)),
     {(converge.ADDONS, "cluster"): (f"MetalLB pool: IPAddressPool/metallb-system/{PLAN.metallb.pool}",)}),
    (lambda lab: setattr(lab, "crds", False), {(converge.ADDONS, "cluster"): ("MetalLB: its CRDs",)}),
    (lambda lab: setattr(lab, "storage_class", False),
     {(converge.STORAGE, "cluster"): (f"no StorageClass {PLAN.gluster.storage_class.name}",)}),
    (lambda lab: lab.csi_registered.discard(PLAN.workers[0].name),
     {(converge.STORAGE, "cluster"): (f"{PLAN.workers[0].name}: kubelet does not know the driver",)}),
    (lambda lab: setattr(lab, "demo_claim", False),
     {(converge.STORAGE, "cluster"): (f"no claim {manifests.RECORDS_CLAIM} for the demo's writer",)}),
    (lambda lab: lab.rolled_out.discard(manifests.RECORDS_WRITER),
     {(converge.STORAGE, "cluster"): (f"the demo's writer {manifests.RECORDS_WRITER} not rolled out",)}),
])
def test_one_thing_taken_away_is_named_and_nothing_else(take_away, expected):
    lab = BuiltLab()
    take_away(lab)
    assert missing(lab) == expected


def test_a_lab_without_kubeadm_init_names_init_and_what_waits_for_it():
    lab = BuiltLab()
    lab.files.discard((PLAN.masters[0].name, "/etc/kubernetes/admin.conf"))
    got = missing(lab)
    assert got[(converge.CLUSTER, PLAN.masters[0].name)] == ("no /etc/kubernetes/admin.conf: kubeadm init has not run",)
    assert got[(converge.ETCD, "cluster")] == got[(converge.ADDONS, "cluster")] == got[(converge.STORAGE, "cluster")] == (pending.NOT_INITIALISED,)
    # Nothing was asked of a cluster that is not there.
    assert not any(c.startswith("kubectl --kubeconfig") for c in lab.sent)


def test_the_existing_provider_never_writes(tmp_path: Path):
    (tmp_path / "ssh_config").write_text("")
    p = ExistingProvider(PLAN, Inventory(path=tmp_path / "inventory.yaml", ssh_config=tmp_path / "ssh_config"))
    with pytest.raises(ProviderError, match="never writes"):
        p.write(PLAN.masters[0].name, "/etc/x", "x")
    source = tmp_path / "artifact"
    source.write_text("x")
    with pytest.raises(ProviderError, match="never writes"):
        p.upload(PLAN.masters[0].name, source, "/var/x")
