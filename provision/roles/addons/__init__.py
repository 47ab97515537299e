"""Cluster add-ons as manifests from the plan: MetalLB's pool, CoreDNS placement."""

from __future__ import annotations

from provision.render import render
from provision.topology import Plan


def metallb(plan: Plan) -> str:
    return render("addons", "metallb.yaml.j2", m=plan.metallb)


def coredns_patch(plan: Plan) -> str:
    return render("addons", "coredns-patch.yaml.j2", plan=plan)
