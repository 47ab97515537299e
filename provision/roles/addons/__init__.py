"""Cluster add-ons as manifests from the plan: flannel, MetalLB's pool, CoreDNS placement."""

from __future__ import annotations

from provision.render import render
from provision.topology import Plan


def flannel(plan: Plan, image: str) -> str:
    nodes = (*plan.masters, *plan.workers)
    ifnames = sorted({h.lab_nic.ifname for h in nodes})
    return render("addons", "flannel.yaml.j2", plan=plan, image=image, ifnames=ifnames)


def demo(plan: Plan, image: str) -> str:
    return render("addons", "demo.yaml.j2", plan=plan, image=image, replicas=max(len(plan.workers), 1))


def metallb_system(plan: Plan, controller_image: str, speaker_image: str) -> str:
    return render("addons", "metallb-system.yaml.j2", m=plan.metallb, version=plan.versions.metallb,
                  controller_image=controller_image, speaker_image=speaker_image)


def metallb(plan: Plan) -> str:
    return render("addons", "metallb.yaml.j2", m=plan.metallb)


def coredns_patch(plan: Plan) -> str:
    return render("addons", "coredns-patch.yaml.j2", plan=plan)
