"""The claim bricks' watch on quotad (provision/roles/gluster/quota_watch.py): it tells a brick
connected to quotad from one that lost it, from `ss -xpH` as a Gluster node prints it, and is
written to every Gluster node with its unit."""

from __future__ import annotations

from provision import topology
from provision.roles import files_for
from provision.roles.gluster import QUOTA_WATCH_PROGRAM, QUOTA_WATCH_UNIT, quota_watch
from provision.secrets import Secrets

PLAN = topology.load()
CLAIM = "pvc-702f21c6-0e98-4afa-a8d5-0e3bb1564574"
#: Two claim bricks (420, 433) and the lab's own volume's (258), as one node printed them.
SS = """\
u_dgr ESTAB 0      0                                             * 5157204            * 5141489 users:(("glusterfsd",pid=258,fd=4))
u_str ESTAB 0      0      /var/run/gluster/507bbb0a17fc9b82.socket 5156471            * 5156470 users:(("glusterfsd",pid=258,fd=8))
u_str ESTAB 0      0                /var/run/gluster/quotad.socket 5642436            * 5642434 users:(("glusterfs",pid=4333,fd=13))
u_str ESTAB 0      0                                             * 5642434            * 5642436 users:(("glusterfsd",pid=420,fd=270))
u_str ESTAB 0      0                /var/run/gluster/quotad.socket 5642440            * 5642438 users:(("glusterfs",pid=4333,fd=14))
u_str ESTAB 0      0                                             * 5642438            * 5642440 users:(("glusterfsd",pid=433,fd=270))
u_str ESTAB 0      0      /var/run/gluster/72b4ed56ee2e13f3.socket 5202855            * 5201760 users:(("glusterfsd",pid=420,fd=8))
"""


def test_a_brick_with_its_quotad_stream_is_connected_and_one_without_is_not():
    bricks = {420: CLAIM, 433: "pvc-1a2b3c4d-0000"}
    assert quota_watch.unconnected(SS, bricks) == {}
    # the failing side: 433's stream gone (quotad restarted and the enforcer never came back)
    lost = "".join(ln + "\n" for ln in SS.splitlines() if "5642438" not in ln and "5642440" not in ln)
    assert quota_watch.unconnected(lost, bricks) == {433: "pvc-1a2b3c4d-0000"}
    # a stream to any other socket is no connection to quotad
    assert quota_watch.unconnected(SS.replace("/var/run/gluster/quotad.socket", "/var/run/gluster/other.socket"), bricks) == bricks
    assert quota_watch.unconnected("", bricks) == bricks


def test_only_claim_bricks_are_watched():
    node = PLAN.fqdn(PLAN.glusters[0])
    brick = PLAN.gluster.brick_dir.strip("/").replace("/", "-")
    claim_brick = f"{PLAN.gluster.volume_service.brick_root}/{CLAIM}/brick".strip("/").replace("/", "-")
    gv0 = f"/usr/sbin/glusterfsd -s {node} --volfile-id {PLAN.gluster.volume}.{node}.{brick} -p x"
    claim = f"/usr/sbin/glusterfsd -s {node} --volfile-id {CLAIM}.{node}.{claim_brick} -p x"
    assert quota_watch.CLAIM_VOLUME.search(claim).group(1) == CLAIM
    assert quota_watch.CLAIM_VOLUME.search(gv0) is None


def test_every_gluster_node_gets_the_watch_and_its_unit(tmp_path):
    secrets = Secrets.load_or_create(tmp_path / "secrets")
    for h in PLAN.glusters:
        files = {f.path: f for f in files_for(PLAN, h, secrets)}
        assert files[QUOTA_WATCH_PROGRAM].content == open(quota_watch.__file__).read()
        assert f"ExecStart=/usr/bin/python3 {QUOTA_WATCH_PROGRAM}" in files[f"/etc/systemd/system/{QUOTA_WATCH_UNIT}"].content
    assert not any(f.path == QUOTA_WATCH_PROGRAM for f in files_for(PLAN, PLAN.masters[0], secrets))
