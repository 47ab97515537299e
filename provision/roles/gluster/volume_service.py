"""The lab's Gluster volume service: what the documents' Heketi did for the StorageClass's
`resturl`, on every Gluster node, behind HTTP Basic authentication (SEC-03; the documents ran
Heketi with none). One Gluster volume of type Replicate per claim, a brick on each node,
its size held by Gluster's quota. Standard library only: it runs on the nodes' own Python.

    GET    /nodes               the trusted pool's nodes and each one's brick device
    GET    /local               this node's brick device (asked by the other nodes)
    GET    /volumes             the claims' volumes
    POST   /volumes             {"name": "pvc-<uid>", "size_gb": N, "volumetype": "replicate:3"}
    GET    /volumes/NAME        type, bricks, status, size
    PUT    /volumes/NAME        {"size_gb": N}: grow (never shrink)
    DELETE /volumes/NAME        stop, delete, and remove its bricks on every node
    PUT    /bricks/NAME         make this node's brick directory for a new volume
    DELETE /bricks/NAME         remove this node's brick directory of a deleted volume

Errors are JSON {"error": "..."} naming the field and what to do. glusterd runs one
cluster-wide transaction at a time: operations are serialised here and retried (bounded)
when another node's transaction holds the lock."""

from __future__ import annotations

import base64
import hmac
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONFIG = "/etc/gluster-volumes/config.json"
#: Only the claims' volumes are this service's: never the lab's own volume.
NAME = re.compile(r"^pvc-[0-9a-f][0-9a-f-]{7,62}$")
#: glusterd's answer while another transaction holds the cluster lock.
BUSY = ("Another transaction is in progress", "Locking failed", "locking failed")
RETRIES = 20
RETRY_S = 1.0
GLUSTER_TIMEOUT_S = 120
PEER_TIMEOUT_S = 20


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Service:
    def __init__(self, config: dict) -> None:
        self.c = config
        self.lock = threading.Lock()

    # -- gluster ------------------------------------------------------------------------
    def gluster(self, *args: str) -> str:
        """A gluster command, retried while another transaction holds the cluster lock."""
        for _ in range(RETRIES):
            res = subprocess.run(["gluster", "--mode=script", *args], capture_output=True, text=True, timeout=GLUSTER_TIMEOUT_S)
            out = (res.stdout + res.stderr).strip()
            if res.returncode == 0:
                return res.stdout
            if not any(b in out for b in BUSY):
                raise Refused(500, f"gluster {' '.join(args)}: {out[-600:]}")
            time.sleep(RETRY_S)
        raise Refused(503, f"gluster {' '.join(args)}: glusterd stayed busy with another transaction; try again")

    def exists(self, name: str) -> bool:
        res = subprocess.run(["gluster", "volume", "info", name], capture_output=True, text=True, timeout=GLUSTER_TIMEOUT_S)
        return res.returncode == 0

    def brick(self, node: str, name: str) -> str:
        return f"{node}:{self.c['brick_root']}/{name}/brick"

    # -- peers --------------------------------------------------------------------------
    def peer(self, node: str, method: str, path: str) -> dict:
        auth = base64.b64encode(f"{self.c['user']}:{self.c['key']}".encode()).decode()
        req = urllib.request.Request(f"http://{node}:{self.c['port']}{path}", method=method, headers={"Authorization": f"Basic {auth}"})
        try:
            with urllib.request.urlopen(req, timeout=PEER_TIMEOUT_S) as resp:
                return json.loads(resp.read() or b"{}")
        except (urllib.error.URLError, OSError) as exc:
            raise Refused(503, f"the volume service on {node} did not answer ({exc}): is that Gluster node up?") from None

    # -- facts --------------------------------------------------------------------------
    def local(self) -> dict:
        root = self.c["brick_root"]
        os.makedirs(root, exist_ok=True)
        usage = shutil.disk_usage(root)
        device = subprocess.run(["findmnt", "-n", "-o", "SOURCE", "--target", root], capture_output=True, text=True).stdout.strip()
        return {"name": self.c["node"], "brick_root": root, "device": device, "size_bytes": usage.total, "free_bytes": usage.free}

    def nodes(self) -> dict:
        states = {}
        for line in self.gluster("pool", "list").splitlines()[1:]:
            parts = line.split()
            if len(parts) >= 3:
                states[self.c["node"] if parts[1] == "localhost" else parts[1]] = parts[2]
        out = []
        for node in self.c["nodes"]:
            facts = self.local() if node == self.c["node"] else self.peer(node, "GET", "/local")
            out.append({**facts, "state": states.get(node, "not in the pool")})
        return {"nodes": out}

    def info(self, name: str) -> dict:
        if not self.exists(name):
            raise Refused(404, f"no volume {name}")
        xml = ET.fromstring(self.gluster("volume", "info", name, "--xml"))
        vol = xml.find(".//volume")
        if vol is None:
            raise Refused(404, f"no volume {name}")
        limit = None
        quota = subprocess.run(["gluster", "volume", "quota", name, "list", "--xml"], capture_output=True, text=True,
                               timeout=GLUSTER_TIMEOUT_S)
        if quota.returncode == 0:
            hard = ET.fromstring(quota.stdout).find(".//limit/hard_limit")
            limit = int(hard.text) if hard is not None and hard.text else None
        return {"name": name, "type": vol.findtext("typeStr"), "replica": int(vol.findtext("replicaCount") or 0),
                "status": vol.findtext("statusStr"), "bricks": [b.findtext("name") for b in vol.iter("brick")],
                "size_gb": limit // 2**30 if limit else None}

    # -- operations ---------------------------------------------------------------------
    def create(self, body: dict) -> dict:
        name, size, volumetype = body.get("name"), body.get("size_gb"), body.get("volumetype")
        if not isinstance(name, str) or not NAME.match(name):
            raise Refused(400, f"name: {name!r} is not a claim's volume name (pvc-<uid>)")
        if not isinstance(size, int) or size < 1:
            raise Refused(400, f"size_gb: {size!r}: give a whole number of GiB, at least 1")
        want = f"replicate:{self.c['replica']}"
        if volumetype != want:
            raise Refused(400, f"volumetype: {volumetype!r} is not served here; this lab makes {want!r} volumes only")
        with self.lock:
            if self.exists(name):
                return self.info(name)
            facts = self.nodes()["nodes"]
            down = [n["name"] for n in facts if n["state"] != "Connected"]
            if down:
                raise Refused(503, f"Gluster node(s) {', '.join(down)} not connected: a replica-{self.c['replica']} volume needs every node")
            room = min(n["free_bytes"] for n in facts)
            if size * 2**30 > room:
                raise Refused(507, f"size_gb: {size} GiB does not fit: the fullest brick device has {room // 2**30} GiB free")
            try:
                # glusterd makes no parent directory of a brick: each node makes its own.
                for node in self.c["nodes"]:
                    if node == self.c["node"]:
                        self.make_brick(name)
                    else:
                        self.peer(node, "PUT", f"/bricks/{name}")
                self.gluster("volume", "create", name, "replica", str(self.c["replica"]),
                             *[self.brick(n, name) for n in self.c["nodes"]], "force")
                for key, value in self.c["options"].items():
                    self.gluster("volume", "set", name, key, value)
                self.gluster("volume", "start", name)
                self.gluster("volume", "quota", name, "enable")
                self.gluster("volume", "quota", name, "limit-usage", "/", f"{size}GB")
            except Refused:
                # Nothing half-made stays behind: a failed create removes its volume and bricks.
                self.remove(name)
                raise
            return self.info(name)

    def expand(self, name: str, body: dict) -> dict:
        size = body.get("size_gb")
        if not isinstance(size, int) or size < 1:
            raise Refused(400, f"size_gb: {size!r}: give a whole number of GiB")
        with self.lock:
            current = self.info(name)
            if current["size_gb"] and size < current["size_gb"]:
                raise Refused(400, f"size_gb: {size} is smaller than {current['size_gb']}: volumes only grow")
            self.gluster("volume", "quota", name, "limit-usage", "/", f"{size}GB")
            return self.info(name)

    def remove(self, name: str) -> None:
        if self.exists(name):
            subprocess.run(["gluster", "--mode=script", "volume", "stop", name, "force"], capture_output=True, timeout=GLUSTER_TIMEOUT_S)
            self.gluster("volume", "delete", name)
        for node in self.c["nodes"]:
            if node == self.c["node"]:
                self.remove_brick(name)
            else:
                self.peer(node, "DELETE", f"/bricks/{name}")

    def delete(self, name: str) -> None:
        with self.lock:
            if not self.exists(name):
                raise Refused(404, f"no volume {name}")
            self.remove(name)

    def make_brick(self, name: str) -> dict:
        os.makedirs(f"{self.c['brick_root']}/{name}/brick", exist_ok=True)
        return {}

    def remove_brick(self, name: str) -> dict:
        if self.exists(name):
            raise Refused(409, f"{name} still exists: delete the volume, not its brick")
        shutil.rmtree(f"{self.c['brick_root']}/{name}", ignore_errors=True)
        return {}

    def volumes(self) -> dict:
        return {"volumes": [v for v in self.gluster("volume", "list").split() if NAME.match(v)]}


class Handler(BaseHTTPRequestHandler):
    service: Service

    def _authorised(self) -> bool:
        c = self.service.c
        want = "Basic " + base64.b64encode(f"{c['user']}:{c['key']}".encode()).decode()
        return hmac.compare_digest(self.headers.get("Authorization", "").encode(), want.encode())

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="gluster-volumes"')
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        if not self._authorised():
            self._answer(401, {"error": "authentication required (HTTP Basic, the lab's volume service key)"})
            return
        parts = [p for p in self.path.split("?")[0].split("/") if p]
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}") if length else {}
            s = self.service
            route = (method, parts[0] if parts else "", len(parts))
            if route == ("GET", "nodes", 1):
                self._answer(200, s.nodes())
            elif route == ("GET", "local", 1):
                self._answer(200, s.local())
            elif route == ("GET", "volumes", 1):
                self._answer(200, s.volumes())
            elif route == ("POST", "volumes", 1):
                self._answer(201, s.create(body))
            elif route[1] in ("volumes", "bricks") and len(parts) == 2 and not NAME.match(parts[1]):
                self._answer(404, {"error": f"{parts[1]} is not a claim's volume"})
            elif route == ("GET", "volumes", 2):
                self._answer(200, s.info(parts[1]))
            elif route == ("PUT", "volumes", 2):
                self._answer(200, s.expand(parts[1], body))
            elif route == ("DELETE", "volumes", 2):
                s.delete(parts[1])
                self._answer(204, {})
            elif route == ("PUT", "bricks", 2):
                self._answer(200, s.make_brick(parts[1]))
            elif route == ("DELETE", "bricks", 2):
                self._answer(200, s.remove_brick(parts[1]))
            else:
                self._answer(404, {"error": f"{method} {self.path}: no such resource"})
        except json.JSONDecodeError as exc:
            self._answer(400, {"error": f"the body is not JSON: {exc}"})
        except Refused as exc:
            self._answer(exc.status, {"error": str(exc)})

    # http.server dispatches on these names.
    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def log_message(self, fmt: str, *args) -> None:
        sys.stderr.write(f"{self.address_string()} {fmt % args}\n")


def main() -> None:
    with open(sys.argv[1] if len(sys.argv) > 1 else CONFIG) as fh:
        config = json.load(fh)
    Handler.service = Service(config)
    # The lab NIC's address only, never every interface (a VM has a management NIC too).
    shown = subprocess.run(["ip", "-4", "-j", "addr", "show", "dev", config["interface"]], capture_output=True, text=True)
    addresses = [a["local"] for link in json.loads(shown.stdout or "[]") for a in link.get("addr_info", [])]
    if not addresses:
        sys.exit(f"{config['interface']} has no IPv4 address yet (DHCP): systemd restarts this service")
    ThreadingHTTPServer((addresses[0], config["port"]), Handler).serve_forever()


if __name__ == "__main__":
    main()
