"""Cluster add-ons, applied with kubectl on the first master from manifests written from
the plan: flannel (the pod network), CoreDNS on the masters, the demo application."""

from __future__ import annotations

import json

import yaml

from provision.errors import ProviderError
from provision.kube.artifacts import Artifacts
from provision.roles import addons
from provision.steps import must
from provision.steps.cluster import kubectl, kubectl_until

ADDONS_DIR = "/etc/kubernetes/addons"
CONTROL_PLANE = "node-role.kubernetes.io/control-plane"
METALLB_CRDS = ("crd/ipaddresspools.metallb.io", "crd/l2advertisements.metallb.io")


def apply_manifest(p, name: str, text: str, server_side: bool = False) -> None:
    """kubectl apply, when the cluster differs from the manifest (server-side for CRDs, too
    large for the last-applied annotation)."""
    first = p.plan.masters[0]
    path = f"{ADDONS_DIR}/{name}.yaml"
    if p.write(first.name, path, text):
        p.changed(f"{first.name}: wrote {path}")
    side = ["--server-side"] if server_side else []
    # 0: nothing to change. 1: differences; >1: diff cannot tell (a namespace the manifest
    # creates does not exist yet): apply either way, it says what is wrong.
    if kubectl(p, "diff", *side, "-f", path, timeout=60).rc == 0:
        return
    kubectl_until(p, f"kubectl apply {name}", "apply", *side, "-f", path)
    p.changed(f"cluster: applied {name}")


def absent(p, text: str) -> list[str]:
    """The objects of a manifest that the cluster does not have, as `kind/namespace/name`;
    read only (kubectl get, the manifest on stdin)."""
    wanted = [(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"])
              for d in yaml.safe_load_all(text) if d]
    res = must(kubectl(p, "get", "--ignore-not-found", "-o", "json", "-f", "-", input=text), "kubectl get (manifest objects)")
    got = json.loads(res.stdout) if res.stdout.strip() else {"items": []}
    have = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"])
            for o in (got["items"] if "items" in got else [got])}
    return ["/".join(x for x in w if x) for w in wanted
            if not any(w[0] == h[0] and w[2] == h[2] and w[1] in (None, h[1]) for h in have)]


def coredns_differs(p) -> list[str]:
    """How CoreDNS differs from the documents' fix (replicas, on the masters); read only."""
    res = kubectl(p, "-n", "kube-system", "get", "deployment", "coredns", "-o", "json")
    if not res.ok:
        return ["no deployment/coredns"]
    spec = json.loads(res.stdout)["spec"]
    differs = []
    if spec.get("replicas") != p.plan.kubernetes.coredns_replicas:
        differs.append(f"{spec.get('replicas')} replicas, the plan has {p.plan.kubernetes.coredns_replicas}")
    pod = spec["template"]["spec"]
    if CONTROL_PLANE not in pod.get("nodeSelector", {}):
        differs.append("not placed on the masters (no control-plane nodeSelector)")
    if not any(t.get("key") == CONTROL_PLANE for t in pod.get("tolerations", [])):
        differs.append("does not tolerate the masters' taint")
    return differs


def nodes_ready(p) -> bool:
    res = kubectl(p, "get", "nodes", "-o", "json")
    if not res.ok:
        return False
    items = json.loads(res.stdout)["items"]
    ready = {n["metadata"]["name"] for n in items
             if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))}
    return {h.name for h in (*p.plan.masters, *p.plan.workers)} <= ready


def patch_coredns(p) -> None:
    """The documents' "Fixing CoreDNS": replicas and placement on the masters (K8S-07)."""
    first = p.plan.masters[0]
    path = f"{ADDONS_DIR}/coredns-patch.yaml"
    if p.write(first.name, path, addons.coredns_patch(p.plan)):
        p.changed(f"{first.name}: wrote {path}")
    res = must(kubectl(p, "-n", "kube-system", "patch", "deployment", "coredns", "--patch-file", path), "patch coredns")
    if "(no change)" not in res.stdout:
        p.changed("cluster: patched coredns")


def rolled_out(p, namespace: str, deployment: str) -> bool:
    return kubectl(p, "-n", namespace, "rollout", "status", f"deployment/{deployment}", "--timeout=5s", timeout=20).ok


def pods_not_ready(pods: dict) -> list[str]:
    """Each pod of ``pods`` (kubectl's JSON list) that is not Ready, with what holds it: the
    scheduler's refusal, or a container's waiting or last ended state."""
    lines = []
    for pod in pods["items"]:
        status = pod.get("status", {})
        conditions = {c["type"]: c for c in status.get("conditions", [])}
        if conditions.get("Ready", {}).get("status") == "True":
            continue
        why = []
        scheduled = conditions.get("PodScheduled", {})
        if scheduled.get("status") == "False":
            why.append(f"{scheduled.get('reason', 'not scheduled')}: {scheduled.get('message', '')}")
        for c in status.get("containerStatuses", []):
            state = c.get("state", {})
            if "waiting" in state:
                why.append(f"{c['name']} {state['waiting'].get('reason', 'waiting')}: {state['waiting'].get('message', '')}")
            ended = c.get("lastState", {}).get("terminated")
            if ended:
                why.append(f"{c['name']} ended last with {ended.get('exitCode')} ({ended.get('reason', '')})")
        lines.append(f"{pod['metadata']['name']} {status.get('phase', '?')}: {'; '.join(why) or 'not Ready'}"[:400])
    return lines


def wait_rolled_out(p, what: str, namespace: str, deployment: str, timeout: float) -> None:
    """Wait for a deployment's rollout; when the wait runs out, its error says which pods held
    it and why (run 19: two MetalLB controllers Pending on a plan of one master said only
    "timed out")."""
    try:
        p.wait_for(what, lambda: rolled_out(p, namespace, deployment), timeout, interval=1)
    except ProviderError as e:
        res = kubectl(p, "-n", namespace, "get", "pods", "-o", "json")
        held = pods_not_ready(json.loads(res.stdout)) if res.ok else [f"(its pods unread: {res.stderr.strip()[-300:]})"]
        raise ProviderError("\n".join([str(e), *held])) from None


def metallb(p, art: Artifacts) -> None:
    """MetalLB's CRDs (ours, generated), its controller and speakers, then the plan's pool."""
    apply_manifest(p, "metallb-crds", art.metallb_crds.read_text(), server_side=True)
    p.wait_for("MetalLB's CRDs established", lambda: kubectl(
        p, "wait", "--for=condition=Established", *METALLB_CRDS, "--timeout=5s", timeout=20).ok, 60, interval=1)
    apply_manifest(p, "metallb-system", addons.metallb_system(p.plan, art.image("metallb-controller").ref,
                                                              art.image("metallb-speaker").ref))
    wait_rolled_out(p, "the MetalLB controller", "metallb-system", "controller", 180)
    apply_manifest(p, "metallb-pool", addons.metallb(p.plan))


def not_ready_why(p) -> str:
    """What kubelet says of each node that is not Ready, and where the pod network's pods
    stand: the cause, in the error of a wait that ran out."""
    lines = []
    res = kubectl(p, "get", "nodes", "-o", "json")
    if res.ok:
        for n in json.loads(res.stdout)["items"]:
            ready = next((c for c in n["status"].get("conditions", []) if c["type"] == "Ready"), {})
            if ready.get("status") != "True":
                lines.append(f"{n['metadata']['name']}: {ready.get('reason', '?')}: {ready.get('message', '')[:300]}")
    pods = kubectl(p, "-n", "kube-flannel", "get", "pods", "-o", "wide")
    lines.append((pods.stdout or pods.stderr).strip()[-1200:])
    return "\n".join(lines)


def apply(p, art: Artifacts) -> None:
    apply_manifest(p, "flannel", addons.flannel(p.plan, art.image("flannel").ref))
    try:
        p.wait_for("every node Ready (pod network up)", lambda: nodes_ready(p), 180, interval=1)
    except ProviderError as e:
        raise ProviderError(f"{e}\n{not_ready_why(p)}") from None
    patch_coredns(p)
    apply_manifest(p, "demo", addons.demo(p.plan, art.image("busybox").ref))
    metallb(p, art)
    wait_rolled_out(p, "CoreDNS on the masters", "kube-system", "coredns", 180)
    wait_rolled_out(p, "the demo application", "demo", "demo", 180)
