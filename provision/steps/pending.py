"""The dry run of the Kubernetes steps: what they would still do to a lab, found without
changing it. For a lab built elsewhere (the existing provider, which never writes) it names
the steps the lab is missing against the plan. Each finding tests the condition its step
tests or waits for, so the dry run and `up` cannot disagree about what "done" is."""

from __future__ import annotations

from dataclasses import dataclass

from provision.roles import addons as manifests
from provision.roles.master import ETCD_PKI
from provision.steps import addons, cluster, etcd, kubernetes, storage
from provision.steps.converge import ADDONS, CLUSTER, ETCD, ETCD_CA, RUNTIME, STORAGE

#: Manifests are rendered only to name their objects: the image does not take part.
ANY_IMAGE = "any"
NOT_INITIALISED = "needs kubeadm init first"


@dataclass(frozen=True)
class Finding:
    step: str
    host: str
    #: What the lab lacks for this step; empty when the step has nothing left to do.
    missing: tuple[str, ...]

    @property
    def done(self) -> bool:
        return not self.missing


def _addons(p) -> list[str]:
    plan = p.plan
    missing = [f"flannel: {o}" for o in addons.absent(p, manifests.flannel(plan, ANY_IMAGE))]
    if not addons.nodes_ready(p):
        missing.append("not every node Ready")
    missing += [f"CoreDNS: {d}" for d in addons.coredns_differs(p)]
    if not addons.rolled_out(p, "kube-system", "coredns"):
        missing.append("CoreDNS not rolled out")
    if not cluster.kubectl(p, "get", *addons.METALLB_CRDS, "-o", "name").ok:
        missing.append("MetalLB: its CRDs")
    else:
        missing += [f"MetalLB: {o}" for o in addons.absent(p, manifests.metallb_system(plan, ANY_IMAGE, ANY_IMAGE))]
        missing += [f"MetalLB pool: {o}" for o in addons.absent(p, manifests.metallb(plan))]
    missing += [f"demo: {o}" for o in addons.absent(p, manifests.demo(plan, ANY_IMAGE))]
    if not addons.rolled_out(p, "demo", "demo"):
        missing.append("demo not rolled out")
    return missing


def kubernetes_steps(p) -> list[Finding]:
    """A finding per step and host, in the order `up` runs them; read only."""
    plan = p.plan
    if not plan.masters:
        return []
    first = plan.masters[0].name
    found = [Finding(RUNTIME, h.name, tuple(kubernetes.node_missing(p, h))) for h in (*plan.masters, *plan.workers)]
    ca = () if p.run(first, ["test", "-f", f"{ETCD_PKI}/ca.crt"]).ok else (f"no {ETCD_PKI}/ca.crt",)
    found.append(Finding(ETCD_CA, first, ca))
    for admin in plan.by_role("admin"):
        cert = f"{etcd.CLIENT_DIR}/client.crt"
        found.append(Finding(ETCD_CA, admin.name, () if p.run(admin.name, ["test", "-f", cert]).ok else (f"no {cert}",)))
    if not cluster.initialised(p):
        found.append(Finding(CLUSTER, first, (f"no {cluster.ADMIN_CONF}: kubeadm init has not run",)))
        found += [Finding(step, "cluster", (NOT_INITIALISED,)) for step in (ETCD, ADDONS, *((STORAGE,) if plan.glusters else ()))]
        return found
    found.append(Finding(CLUSTER, first, ()))
    found += [Finding(CLUSTER, h.name, () if cluster.joined(p, h) else ("not joined",))
              for h in (*plan.masters[1:], *plan.workers)]
    found.append(Finding(ETCD, "cluster", () if etcd.healthy(p) else ("not healthy, or not a member per master",)))
    found.append(Finding(ADDONS, "cluster", tuple(_addons(p))))
    if plan.glusters:
        found.append(Finding(STORAGE, "cluster", tuple(storage.missing(p))))
    return found
