"""STO-01, STO-04 (Gluster level), STO-08: the pool, the replicated volume, mounts."""

from __future__ import annotations

import uuid

import pytest

from provision import checks


@pytest.mark.promise("STO-01")
def test_all_peers_connected(plan, host, lab):
    for g in plan.glusters:
        out = host(g.name).check_output("gluster pool list")
        assert out.count("Connected") == len(plan.glusters), out


@pytest.mark.promise("STO-04")
def test_volume_is_replicate_with_bricks_on_distinct_nodes(plan, host, lab):
    info = host(plan.glusters[0].name).check_output(f"gluster volume info {plan.gluster.volume}")
    problems = checks.gluster_volume(info, plan)
    assert not problems, "; ".join(problems)
    status = host(plan.glusters[0].name).check_output(f"gluster volume status {plan.gluster.volume} detail")
    assert status.count("Online               : Y") >= plan.gluster.replica


@pytest.mark.promise("STO-08", "STO-04")
@pytest.mark.parametrize("role", ["master", "worker"])
def test_mount_from_masters_and_workers_writes_to_every_brick(plan, host, lab, role):
    client = host(plan.by_role(role)[0].name)
    assert client.exists("mount.glusterfs")
    name = f"conformance-{uuid.uuid4().hex[:8]}"
    mount = f"/mnt/underhood-{name}"  # one per run: a failed mount unit lingers under its name
    source = f"{plan.fqdn(plan.glusters[0])}:/{plan.gluster.volume}"
    # systemd-mount: the FUSE daemon then lives in the host's own cgroup, as on a VM.
    res = client.run(f"systemd-mount -t glusterfs {source} {mount}")
    assert res.rc == 0, f"STO-08: mounting {source} on {client.backend.hostname} failed: {res.stderr.strip()}"
    try:
        client.run_expect([0], f"echo {name} > {mount}/{name}")
        for g in plan.glusters:
            brick = host(g.name).file(f"{plan.gluster.brick_dir}/{name}")
            assert brick.exists and brick.content_string.strip() == name, f"{name} missing on {g.name}"
        client.run_expect([0], f"rm {mount}/{name}")
    finally:
        client.run(f"systemd-umount {mount}; systemctl reset-failed; rmdir {mount}")
