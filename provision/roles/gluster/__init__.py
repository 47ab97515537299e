"""Gluster nodes: glusterd, the trusted pool and one replicated volume; the volume service
that makes a replicated volume per claim (the StorageClass's resturl); its StorageClass."""

from __future__ import annotations

import json
from pathlib import Path

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


#: The Secret holding the volume service's user and key, where the CSI sidecars read it.
CREDENTIALS = ("kube-system", "gluster-volume-service")


def storage_class(plan: Plan) -> str:
    """The CSIDriver object and the StorageClass on it (the credentials' Secret is apart:
    it carries the key)."""
    return render("gluster", "storageclass.yaml.j2", sc=plan.gluster.storage_class, resturl=resturl(plan),
                  namespace=CREDENTIALS[0], secret=CREDENTIALS[1])


SERVICE_UNIT = "gluster-volumes.service"
SERVICE_PROGRAM = "/usr/local/lib/gluster-volumes/volume_service.py"
SERVICE_CONFIG = "/etc/gluster-volumes/config.json"


def resturl(plan: Plan) -> str:
    """The StorageClass's resturl: the first Gluster node's volume service."""
    return f"http://{plan.fqdn(plan.glusters[0])}:{plan.gluster.volume_service.port}"


def service_config(plan: Plan, host: Host, secrets: Secrets) -> dict:
    vs = plan.gluster.volume_service
    return {"node": plan.fqdn(host), "nodes": [plan.fqdn(h) for h in plan.glusters], "interface": host.lab_nic.ifname,
            "port": vs.port, "user": vs.user, "key": secrets.volume_service_key, "brick_root": vs.brick_root,
            "replica": plan.gluster.replica, "options": volume_options(plan)}


def files(plan: Plan, host: Host, secrets: Secrets) -> list[File]:
    # glusterd needs no file of ours (its unit orders itself before network-online.target,
    # so it must not be made to wait for it); the pool and volume are cross-host steps.
    program = (Path(__file__).parent / "volume_service.py").read_text()
    return [
        File(SERVICE_PROGRAM, program, "0755"),
        File(SERVICE_CONFIG, json.dumps(service_config(plan, host, secrets), indent=2) + "\n", "0600"),
        File(f"/etc/systemd/system/{SERVICE_UNIT}", render("gluster", "gluster-volumes.service.j2",
                                                            program=SERVICE_PROGRAM, config=SERVICE_CONFIG)),
    ]
