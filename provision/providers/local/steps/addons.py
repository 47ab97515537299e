"""Cluster add-ons, applied with kubectl on the first master from manifests written from
the plan: flannel (the pod network), then every node Ready."""

from __future__ import annotations

import json

from provision.kube.artifacts import Artifacts
from provision.providers.local.steps import must
from provision.providers.local.steps.cluster import kubectl
from provision.roles import addons

ADDONS_DIR = "/etc/kubernetes/addons"


def apply_manifest(p, name: str, text: str) -> None:
    first = p.plan.masters[0]
    path = f"{ADDONS_DIR}/{name}.yaml"
    if p.container(first).write(path, text):
        p.changed(f"{first.name}: wrote {path}")
    res = must(kubectl(p, "apply", "-f", path, timeout=60), f"kubectl apply {name}")
    if any(not line.endswith(" unchanged") for line in res.stdout.splitlines()):
        p.changed(f"cluster: applied {name}")


def nodes_ready(p) -> bool:
    res = kubectl(p, "get", "nodes", "-o", "json")
    if not res.ok:
        return False
    items = json.loads(res.stdout)["items"]
    ready = {n["metadata"]["name"] for n in items
             if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))}
    return {h.name for h in (*p.plan.masters, *p.plan.workers)} <= ready


def apply(p, art: Artifacts) -> None:
    apply_manifest(p, "flannel", addons.flannel(p.plan, art.image("flannel").ref))
    p.wait_for("every node Ready (pod network up)", lambda: nodes_ready(p), 180, interval=1)
