"""What every Kubernetes node needs (K8S-01): br_netfilter and the forwarding sysctls."""

from __future__ import annotations

from provision.render import File, render

MODULES_FILE = "/etc/modules-load.d/bridge.conf"
SYSCTL_FILE = "/etc/sysctl.d/10-kubernetes.conf"


def node_files() -> list[File]:
    return [
        File(MODULES_FILE, render("kubernetes", "bridge.conf.j2")),
        File(SYSCTL_FILE, render("kubernetes", "10-kubernetes.conf.j2")),
    ]
