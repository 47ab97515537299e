"""The Gluster volume service (provision/roles/gluster/volume_service.py) run for real on this
machine, over HTTP, against a stand-in `gluster` that keeps its volumes in a directory: it
refuses requests without its key, names the field of a bad request, retries while glusterd is
busy, and leaves nothing half-made when a create fails."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from provision.roles.gluster import volume_service
from provision.waiting import until
from selftests.conftest import tool_on_path

PROGRAM = Path(volume_service.__file__)
KEY = "k3y-of-this-test"

#: A gluster CLI with the answers the service reads, its volumes as JSON files in $FAKE_GLUSTER.
FAKE_GLUSTER = r'''#!/usr/bin/env python3
import json, os, sys
from pathlib import Path
state = Path(os.environ["FAKE_GLUSTER"])
args = [a for a in sys.argv[1:] if a != "--mode=script"]
def vol(name): return state / f"{name}.json"
def fail(msg): print(msg, file=sys.stderr); sys.exit(1)
def once(what):
    flag = state / f"fail-{what}"
    if flag.exists():
        text = flag.read_text(); flag.unlink(); fail(text)
if args[:2] == ["pool", "list"]:
    print("UUID\tHostname\tState\nu1\tlocalhost\tConnected")
elif args[:2] == ["volume", "list"]:
    print("\n".join(p.stem for p in state.glob("*.json")))
elif args[:2] == ["volume", "info"]:
    if not vol(args[2]).exists(): fail(f"Volume {args[2]} does not exist")
    v = json.loads(vol(args[2]).read_text())
    bricks = "".join(f"<brick>{b}<name>{b}</name></brick>" for b in v["bricks"])
    print(f"<cliOutput><volInfo><volumes><volume><name>{args[2]}</name><statusStr>{v['status']}</statusStr>"
          f"<typeStr>Replicate</typeStr><replicaCount>{v['replica']}</replicaCount><bricks>{bricks}</bricks>"
          "</volume></volumes></volInfo></cliOutput>")
elif args[:2] == ["volume", "create"]:
    once("create")
    name, replica, bricks = args[2], args[4], [b for b in args[5:] if b != "force"]
    for b in bricks: Path(b.split(":", 1)[1]).mkdir(exist_ok=True)  # as glusterd: no parent made
    vol(name).write_text(json.dumps({"bricks": bricks, "replica": replica, "status": "Created"}))
elif args[:2] == ["volume", "start"]:
    once("start")
    v = json.loads(vol(args[2]).read_text()); v["status"] = "Started"; vol(args[2]).write_text(json.dumps(v))
elif args[:2] == ["volume", "quota"] and args[3] == "limit-usage":
    v = json.loads(vol(args[2]).read_text()); v["limit"] = int(args[5][:-2]) * 2**30; vol(args[2]).write_text(json.dumps(v))
elif args[:2] == ["volume", "quota"] and args[3] == "list":
    v = json.loads(vol(args[2]).read_text())
    print(f"<cliOutput><volQuota><limit><path>/</path><hard_limit>{v['limit']}</hard_limit></limit></volQuota></cliOutput>")
elif args[:2] == ["volume", "delete"]:
    vol(args[2]).unlink()
elif args[:2] in (["volume", "set"], ["volume", "stop"], ["volume", "quota"]):
    pass
else:
    fail(f"unexpected: {args}")
'''


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def service(tmp_path, monkeypatch):
    state = tmp_path / "gluster"
    state.mkdir()
    tool_on_path(tmp_path, monkeypatch, "gluster", FAKE_GLUSTER)
    monkeypatch.setenv("FAKE_GLUSTER", str(state))
    port = free_port()
    config = {"node": "localhost", "nodes": ["localhost"], "interface": "lo", "port": port, "user": "admin", "key": KEY,
              "brick_root": str(tmp_path / "bricks"), "replica": 1, "options": {"network.ping-timeout": "10"}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    proc = subprocess.Popen([sys.executable, str(PROGRAM), str(tmp_path / "config.json")], stderr=subprocess.PIPE, text=True)
    try:
        until(lambda: listening(port) or proc.poll() is not None, 20, what="the service listening")
        assert proc.poll() is None, proc.stderr.read()
        yield Client(port), state, tmp_path / "bricks"
    finally:
        proc.kill()
        proc.wait(timeout=10)


class Client:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def __call__(self, method: str, path: str, body: dict | None = None, key: str | None = KEY) -> tuple[int, dict]:
        headers = {"Content-Type": "application/json"}
        if key is not None:
            headers["Authorization"] = "Basic " + base64.b64encode(f"admin:{key}".encode()).decode()
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")


def claim() -> str:
    return f"pvc-{uuid.uuid4()}"


def test_requests_without_the_key_are_refused_and_with_it_served(service):
    api, _, _ = service
    assert api("GET", "/volumes")[0] == 200
    for key in (None, "", "admin", KEY[:-1], KEY + "x"):
        assert api("GET", "/volumes", key=key)[0] == 401, key
    assert api("POST", "/volumes", {"name": claim(), "size_gb": 1, "volumetype": "replicate:1"}, key=None)[0] == 401


def test_a_volume_is_made_grown_and_removed_with_its_brick(service):
    api, _, bricks = service
    name = claim()
    status, vol = api("POST", "/volumes", {"name": name, "size_gb": 1, "volumetype": "replicate:1"})
    assert status == 201, vol
    assert (vol["type"], vol["status"], vol["size_gb"], vol["bricks"]) == ("Replicate", "Started", 1, [f"localhost:{bricks}/{name}/brick"])
    assert (bricks / name / "brick").is_dir()
    assert api("GET", "/volumes")[1] == {"volumes": [name]}
    assert api("PUT", f"/volumes/{name}", {"size_gb": 3})[1]["size_gb"] == 3
    status, answer = api("PUT", f"/volumes/{name}", {"size_gb": 2})
    assert status == 400 and answer["error"].startswith("size_gb:"), answer
    assert api("DELETE", f"/volumes/{name}")[0] == 204
    assert api("GET", f"/volumes/{name}")[0] == 404
    assert not (bricks / name).exists()


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"size_gb": 1, "volumetype": "replicate:3"}, 400, "volumetype"),
    ({"size_gb": 0, "volumetype": "replicate:1"}, 400, "size_gb"),
    ({"size_gb": 10**9, "volumetype": "replicate:1"}, 507, "size_gb"),
    ({"name": "gv0", "size_gb": 1, "volumetype": "replicate:1"}, 400, "name"),
])
def test_a_request_it_cannot_serve_names_the_field(service, body, status, field):
    api, state, _ = service
    got, answer = api("POST", "/volumes", {"name": claim(), **body})
    assert (got, answer["error"].split(":")[0]) == (status, field), answer
    assert not list(state.glob("*.json"))


def test_a_create_that_fails_leaves_no_volume_and_no_brick(service):
    api, state, bricks = service
    (state / "fail-start").write_text("volume start: failed: brick process did not start")
    name = claim()
    status, answer = api("POST", "/volumes", {"name": name, "size_gb": 1, "volumetype": "replicate:1"})
    assert status == 500 and "brick process did not start" in answer["error"], answer
    assert not (state / f"{name}.json").exists() and not (bricks / name).exists()


def test_a_busy_glusterd_is_waited_for(service):
    api, state, _ = service
    (state / "fail-create").write_text("volume create: failed: Another transaction is in progress for the cluster")
    status, vol = api("POST", "/volumes", {"name": claim(), "size_gb": 1, "volumetype": "replicate:1"})
    assert status == 201, vol
