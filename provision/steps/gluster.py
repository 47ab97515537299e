"""Gluster: glusterd on every Gluster node, the trusted pool, one replica-N volume."""

from __future__ import annotations

from provision.roles.gluster import volume_create_args, volume_options
from provision.steps import must


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
