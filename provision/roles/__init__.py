"""Roles: what each kind of host becomes. ``files(plan, host, secrets)`` lists what a role
writes on a host; the steps that apply them live beside it."""

from __future__ import annotations

from collections.abc import Callable

from provision.render import File
from provision.roles import addons, admin, gateway, gluster, kubernetes, loadbalancer, master, worker
from provision.secrets import Secrets
from provision.topology import Host, Plan

FileMaker = Callable[[Plan, Host, Secrets], list[File]]

FILES: dict[str, FileMaker] = {
    "gateway": gateway.files,
    "loadbalancer": loadbalancer.files,
    "master": master.files,
    "worker": worker.files,
    "gluster": gluster.files,
    "admin": admin.files,
}


def files_for(plan: Plan, host: Host, secrets: Secrets) -> list[File]:
    return FILES[host.role](plan, host, secrets)


__all__ = ["FILES", "addons", "files_for", "kubernetes"]
