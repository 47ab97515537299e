"""STO-01, STO-04 (Gluster level), STO-08: the pool, the replicated volume, mounts. STO-02 and
SEC-03: the volume service that does Heketi's job (the StorageClass's resturl), asked from
the admin host as a client in another subnet."""

from __future__ import annotations

import json
import shlex
import uuid

import pytest

from provision import checks
from provision.pytest_plugin import admin_host
from provision.roles.gluster import SERVICE_CONFIG, cluster_options, volume_options


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


@pytest.mark.promise("STO-04")
def test_the_plans_gluster_settings_hold(plan, host, lab):
    """The pool's and the volume's options are the plan's (network.ping-timeout bounds the
    write stall STO-06 measures; cluster.brick-multiplex decides what one crash takes down)."""
    node = host(plan.glusters[0].name)

    def get(volume: str, key: str) -> str:
        return node.check_output(f"gluster volume get {volume} {key}")

    wrong = [*checks.gluster_options_differ(get, "all", cluster_options(plan)),
             *checks.gluster_options_differ(get, plan.gluster.volume, volume_options(plan))]
    assert not wrong, "STO-04: " + "; ".join(wrong)


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


class VolumeService:
    """HTTP requests to a Gluster node's volume service, sent with curl from the admin host."""

    def __init__(self, plan, host, node) -> None:
        self.plan, self.node = plan, node
        self.admin = host(admin_host(plan).name)
        config = host(node.name).file(SERVICE_CONFIG)
        if not config.exists:
            pytest.skip(f"no volume service of this lab's kind on {node.name} ({SERVICE_CONFIG}): the documents' Heketi "
                        "is archived and the in-tree glusterfs provisioner was removed in Kubernetes 1.26 (DOC-06)")
        c = json.loads(config.content_string)
        self.credentials = (c["user"], c["key"])
        self.url = f"http://{plan.fqdn(node)}:{c['port']}"

    def __call__(self, method: str, path: str, body: dict | None = None, auth: tuple[str, str] | bool | None = True):
        """(status, JSON answer); ``auth`` True: the lab's credentials, None: none."""
        creds = self.credentials if auth is True else auth
        argv = ["curl", "-s", "--max-time", "150", "-X", method, "-w", "\\n%{http_code}"]
        if creds:
            argv += ["-u", f"{creds[0]}:{creds[1]}"]
        if body is not None:
            argv += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(body)]
        res = self.admin.run(shlex.join([*argv, f"{self.url}{path}"]))
        assert res.rc == 0, f"{method} {self.url}{path}: curl failed ({res.rc}): {res.stderr.strip()}"
        text, _, status = res.stdout.rpartition("\n")
        return int(status), (json.loads(text) if text.strip() else {})


@pytest.fixture
def volumes(plan, host):
    return VolumeService(plan, host, plan.glusters[0])


@pytest.mark.promise("SEC-03")
def test_the_volume_service_refuses_requests_without_its_key(plan, host, volumes):
    user, key = volumes.credentials
    for node in plan.glusters:
        api = VolumeService(plan, host, node)
        # The positive control: the lab's own credentials are served.
        status, _ = api("GET", "/volumes")
        assert status == 200, f"SEC-03: {node.name}'s volume service refuses the lab's own key ({status})"
        for what, auth in (("no credentials", None), ("the documents' admin:admin", ("admin", "admin")),
                           ("an empty key", (user, "")), ("a key one character short", (user, key[:-1]))):
            status, answer = api("GET", "/volumes", auth=auth)
            assert status == 401, f"SEC-03: {node.name}'s volume service answered {status} to {what}: {answer}"


@pytest.mark.promise("STO-02")
def test_the_volume_service_knows_the_three_nodes_and_their_brick_devices(plan, volumes):
    status, answer = volumes("GET", "/nodes")
    assert status == 200, answer
    nodes = answer["nodes"]
    assert [n["name"] for n in nodes] == [plan.fqdn(g) for g in plan.glusters], "STO-02: the service knows other nodes than the plan's"
    for n in nodes:
        assert n["state"] == "Connected", f"STO-02: {n['name']} is {n['state']} in the trusted pool"
        assert n["device"] and n["size_bytes"] > 0, f"STO-02: no brick device known on {n['name']}: {n}"
        assert n["brick_root"] == plan.gluster.volume_service.brick_root


@pytest.mark.promise("STO-02")
def test_a_volume_per_claim_is_replicated_on_three_nodes_grows_and_goes_with_its_bricks(plan, host, volumes):
    """What the claims' provisioner asks of the service: one Replicate volume with a brick on
    each node, grown on request, and removed with every brick."""
    name = f"pvc-{uuid.uuid4()}"
    root = plan.gluster.volume_service.brick_root
    try:
        status, vol = volumes("POST", "/volumes", {"name": name, "size_gb": 1, "volumetype": plan.gluster.storage_class.volumetype})
        assert status == 201, vol
        assert (vol["type"], vol["replica"], vol["status"], vol["size_gb"]) == ("Replicate", plan.gluster.replica, "Started", 1), vol
        hosts = [b.split(":")[0] for b in vol["bricks"]]
        assert sorted(hosts) == sorted(plan.fqdn(g) for g in plan.glusters), f"bricks not one per node: {vol['bricks']}"
        status, vol = volumes("PUT", f"/volumes/{name}", {"size_gb": 2})
        assert (status, vol.get("size_gb")) == (200, 2), vol
        status, _ = volumes("DELETE", f"/volumes/{name}")
        assert status == 204
        assert volumes("GET", f"/volumes/{name}")[0] == 404
        for g in plan.glusters:
            assert not host(g.name).file(f"{root}/{name}").exists, f"{g.name} kept the brick of deleted volume {name}"
    finally:
        volumes("DELETE", f"/volumes/{name}")


@pytest.mark.promise("STO-02")
def test_the_volume_service_refuses_what_it_cannot_make_and_names_the_field(plan, volumes):
    name = f"pvc-{uuid.uuid4()}"
    volumetype = plan.gluster.storage_class.volumetype
    for body, status, field in (
        ({"name": name, "size_gb": 1, "volumetype": "replicate:2"}, 400, "volumetype"),
        ({"name": name, "size_gb": 10**6, "volumetype": volumetype}, 507, "size_gb"),
        ({"name": plan.gluster.volume, "size_gb": 1, "volumetype": volumetype}, 400, "name"),
    ):
        got, answer = volumes("POST", "/volumes", body)
        assert (got, answer.get("error", "").split(":")[0]) == (status, field), answer
    # nothing half-made stayed behind
    assert name not in volumes("GET", "/volumes")[1]["volumes"]
