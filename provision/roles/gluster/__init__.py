"""Gluster nodes: glusterd, the trusted pool and one replicated volume; its StorageClass."""

from __future__ import annotations

from provision.render import File, render
from provision.secrets import Secrets
from provision.topology import Host, Plan


def volume_create_args(plan: Plan) -> list[str]:
    """`gluster volume create` arguments: one brick per Gluster node, replica N."""
    g = plan.gluster
    bricks = [f"{plan.fqdn(h)}:{g.brick_dir}" for h in plan.glusters]
    return ["volume", "create", g.volume, "replica", str(g.replica), *bricks]


def volume_options(plan: Plan) -> dict[str, str]:
    return {"network.ping-timeout": str(plan.gluster.ping_timeout_s)}


def storage_class(plan: Plan) -> str:
    return render("gluster", "storageclass.yaml.j2", sc=plan.gluster.storage_class)


def files(plan: Plan, host: Host, secrets: Secrets) -> list[File]:
    # glusterd needs no file of ours (its unit orders itself before network-online.target,
    # so it must not be made to wait for it); the pool and volume are cross-host steps.
    return []
