"""Claims on Gluster: the lab's CSI driver and the upstream sidecars, the documents'
StorageClass on them. The controller and sidecars run on every master (one leads), the node
plugin on every worker beside kubelet; all are services of the nodes, not pods."""

from __future__ import annotations

import base64
import json

from provision.kube.artifacts import Artifacts
from provision.roles import addons, gluster
from provision.secrets import Secrets
from provision.steps import must, units_running
from provision.steps.addons import apply_manifest, rolled_out, wait_rolled_out
from provision.steps.cluster import kubectl, kubectl_until
from provision.steps.kubernetes import deliver, link
from provision.topology import Host

CA = "/etc/kubernetes/pki/ca.crt"


def _units(p, host: Host, files, units: list[str]) -> None:
    """Unit files written; units (re)started where a file or a binary changed, else kept running."""
    changed = False
    for f in files:
        if p.write(host.name, f.path, f.content, f.mode):
            p.changed(f"{host.name}: wrote {f.path}")
            changed = True
    # a new binary is a new link (the build cache's directory names its version)
    changed = changed or any(c.startswith(f"{host.name}: linked {gluster.CSI_BIN}/") for c in p.changes)
    units_running(p, host.name, changed, *units)


def sidecar_token(p) -> str:
    """The sidecars' service account token, once the token controller has filled its Secret."""
    namespace = gluster.CREDENTIALS[0]

    def filled() -> str | None:
        res = kubectl(p, "-n", namespace, "get", "secret", f"{gluster.CSI_ACCOUNT}-token", "-o", "jsonpath={.data.token}")
        return base64.b64decode(res.stdout).decode() if res.ok and res.stdout else None

    return p.wait_for("the CSI sidecars' token", filled, 60, interval=0.5)


def registered(p, node: str) -> bool:
    """kubelet on ``node`` knows the driver (its CSINode lists it)."""
    res = kubectl(p, "get", "csinode", node, "-o", "json")
    if not res.ok:
        return False
    drivers = json.loads(res.stdout).get("spec", {}).get("drivers") or []
    return any(d["name"] == p.plan.gluster.storage_class.provisioner for d in drivers)


def apply(p, art: Artifacts, secrets: Secrets) -> None:
    plan = p.plan
    apply_manifest(p, "gluster-csi-rbac", gluster.csi_rbac(plan))
    # the volume service's credentials: from stdin, never on a node's disk
    kubectl_until(p, "the volume service's credentials", "apply", "-f", "-", input=gluster.csi_credentials(plan, secrets))
    token = sidecar_token(p)
    ca = base64.b64encode(must(p.run(plan.masters[0].name, ["cat", CA]), "the cluster's CA").stdout.encode()).decode()
    kubeconfig = gluster.csi_kubeconfig(plan, token, ca)
    driver = art.bins["gluster-csi"] / "gluster-csi"
    for m in plan.masters:
        links = {f"{gluster.CSI_BIN}/gluster-csi": deliver(p, m, driver, "0755")}
        links |= {f"{gluster.CSI_BIN}/{name}": deliver(p, m, art.bins["csi-sidecars"] / name, "0755") for name in gluster.CSI_SIDECARS}
        link(p, m, links)
        if p.write(m.name, gluster.CSI_KUBECONFIG, kubeconfig, "0600"):
            p.changed(f"{m.name}: wrote {gluster.CSI_KUBECONFIG}")
        _units(p, m, gluster.csi_controller_units(plan),
               [gluster.CSI_CONTROLLER_UNIT, *(f"{name}.service" for name in gluster.CSI_SIDECARS)])
    for w in plan.workers:
        link(p, w, {f"{gluster.CSI_BIN}/gluster-csi": deliver(p, w, driver, "0755")})
        _units(p, w, gluster.csi_node_units(plan, w), [gluster.CSI_NODE_UNIT])
    apply_manifest(p, "glusterfs-storage", gluster.storage_class(plan))
    for w in plan.workers:
        p.wait_for(f"kubelet on {w.name} registering {plan.gluster.storage_class.provisioner}",
                   lambda w=w: registered(p, w.name), 60, interval=1)
    apply_manifest(p, "demo-records", addons.demo_records(plan, art.image("busybox").ref))
    # the claim binds (one call of the sidecar to the driver), then the writer mounts it
    wait_rolled_out(p, "the demo's writer on its claim", addons.DEMO_NAMESPACE, addons.RECORDS_WRITER, gluster.CSI_CALL_S + 60)


def missing(p) -> list[str]:
    """What the cluster lacks of this step, read only: the StorageClass, the driver on each
    worker."""
    out = []
    name = p.plan.gluster.storage_class.name
    if not kubectl(p, "get", "storageclass", name).ok:
        out.append(f"no StorageClass {name}")
    out += [f"{w.name}: kubelet does not know the driver" for w in p.plan.workers if not registered(p, w.name)]
    if not kubectl(p, "-n", addons.DEMO_NAMESPACE, "get", "pvc", addons.RECORDS_CLAIM).ok:
        out.append(f"no claim {addons.RECORDS_CLAIM} for the demo's writer")
    elif not rolled_out(p, addons.DEMO_NAMESPACE, addons.RECORDS_WRITER):
        out.append(f"the demo's writer {addons.RECORDS_WRITER} not rolled out")
    return out

