"""Workers: the Kubernetes node settings (the runtime and kubelet come with Kubernetes)."""

from __future__ import annotations

from provision.render import File
from provision.roles.kubernetes import node_files
from provision.secrets import Secrets
from provision.topology import Host, Plan


def files(plan: Plan, host: Host, secrets: Secrets) -> list[File]:
    return node_files()
