"""Gluster: glusterd on every Gluster node, the trusted pool, one replica-N volume."""

from __future__ import annotations

from provision.checks import gluster_option
from provision.roles.gluster import (
    QUOTA_WATCH_PROGRAM,
    QUOTA_WATCH_UNIT,
    SERVICE_CONFIG,
    SERVICE_PROGRAM,
    SERVICE_UNIT,
    cluster_options,
    volume_create_args,
    volume_options,
)
from provision.steps import must, units_running

SERVICE_FILES = (SERVICE_PROGRAM, SERVICE_CONFIG, f"/etc/systemd/system/{SERVICE_UNIT}")
QUOTA_WATCH_FILES = (QUOTA_WATCH_PROGRAM, f"/etc/systemd/system/{QUOTA_WATCH_UNIT}")


def apply(p) -> None:
    plan = p.plan
    nodes = plan.glusters
    g = plan.gluster
    for h in nodes:
        must(p.run(h.name, ["mkdir", "-p", g.brick_dir]), f"{h.name}: brick directory")
        p.ensure_active(h.name, "glusterd")
    first = nodes[0].name
    pool = p.run(first, ["gluster", "pool", "list"], timeout=20).stdout
    for h in nodes[1:]:
        if plan.fqdn(h) in pool:
            continue
        p.wait_for(f"peer probe {h.name}", lambda h=h: p.run(first, ["gluster", "peer", "probe", plan.fqdn(h)], timeout=30).ok, 60)
        p.changed(f"{first}: probed {h.name}")

    def pool_connected() -> bool:
        out = p.run(first, ["gluster", "pool", "list"], timeout=20).stdout
        return out.count("Connected") == len(nodes)

    p.wait_for("every Gluster peer connected", pool_connected, 60, interval=0.5)
    # before any volume: a brick takes the pool's multiplexing as it starts
    for key, value in cluster_options(plan).items():
        now = gluster_option(must(p.run(first, ["gluster", "volume", "get", "all", key], timeout=30), f"volume get all {key}").stdout, key)
        if now != value:
            must(p.run(first, ["gluster", "--mode=script", "volume", "set", "all", key, value], timeout=60), f"volume set all {key}")
            p.changed(f"set {key}={value} on the pool (bricks already running keep their processes until restarted)")
    if not p.run(first, ["gluster", "volume", "info", g.volume], timeout=20).ok:
        # force: the bricks live on the host's root filesystem in this provider.
        must(p.run(first, ["gluster", "--mode=script", *volume_create_args(plan), "force"], timeout=120), "gluster volume create")
        p.changed(f"created volume {g.volume}")
    info = p.run(first, ["gluster", "volume", "info", g.volume], timeout=20).stdout
    for key, value in volume_options(plan).items():
        if f"{key}: {value}" not in info:
            must(p.run(first, ["gluster", "--mode=script", "volume", "set", g.volume, key, value], timeout=60), f"volume set {key}")
            p.changed(f"set {key}={value} on {g.volume}")
    if "Status: Started" not in info:
        must(p.run(first, ["gluster", "--mode=script", "volume", "start", g.volume], timeout=120), "gluster volume start")
        p.changed(f"started volume {g.volume}")
    volume_service(p)


def volume_service(p) -> None:
    """The volume service and the claim bricks' watch on every Gluster node (their files are
    the role's): restarted where they changed; then each service must answer, and refuse a
    request without credentials."""
    for h in p.plan.glusters:
        units_running(p, h.name, any(f"{h.name}: wrote {f}" in p.changes for f in SERVICE_FILES), SERVICE_UNIT)
        units_running(p, h.name, any(f"{h.name}: wrote {f}" in p.changes for f in QUOTA_WATCH_FILES), QUOTA_WATCH_UNIT)
    for h in p.plan.glusters:
        p.wait_for(f"the volume service on {h.name}", lambda h=h: volume_service_answers(p, h), 30)


def volume_service_answers(p, host) -> bool:
    """The service on ``host`` listens, and refuses a request without credentials."""
    url = f"http://{p.plan.fqdn(host)}:{p.plan.gluster.volume_service.port}/nodes"
    res = p.run(host.name, ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "3", url], timeout=10)
    return res.stdout == "401"
