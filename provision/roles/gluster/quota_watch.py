"""Keeps this Gluster node's claim bricks connected to quotad. Standard library only: it runs
on the node's own Python.

Every claim's volume has a quota (its size). glusterd restarts quotad on every node whenever
a volume's quota is enabled or removed, that is with every claim made or deleted. Gluster 10.3's
quota enforcer in a brick sometimes never reconnects to the new quotad: it logs "error
returned while attempting to connect to host:(null), port:0" until quotad restarts again, and
every write validated through it fails. Nothing shows while the other two bricks answer; with
one Gluster node down, the volume loses write quorum and the demo's claim refused writes for a
minute (STO-06). A brick of a claim volume with no connection to quotad for three checks in a row
gets quotad restarted, the old one gone first, by glusterd (`volume start VOL force`)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

QUOTAD_SOCKET = "/var/run/gluster/quotad.socket"
QUOTAD_PIDFILE = "/var/run/gluster/quotad/quotad.pid"
#: Only the claims' volumes have quotas (the lab's own volume has none).
CLAIM_VOLUME = re.compile(r"--volfile-id (pvc-[0-9a-f-]+)\.")
CHECK_S = 5
#: quotad's exit on SIGTERM, bounded.
EXIT_S = 15
GLUSTER_TIMEOUT_S = 120
#: Checks in a row without a connection before quotad is restarted: a brick reconnects within
#: seconds of an ordinary restart (every claim made or deleted).
MISSES = 3
#: Between two restarts at least.
RESTART_GAP_S = 30


def claim_bricks() -> dict[int, str]:
    """This node's brick processes of claim volumes: PID -> volume."""
    out: dict[int, str] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                argv = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        m = CLAIM_VOLUME.search(argv)
        if argv.startswith("/usr/sbin/glusterfsd ") and m:
            out[int(pid)] = m.group(1)
    return out


def unconnected(ss_output: str, bricks: dict[int, str]) -> dict[int, str]:
    """The bricks among ``bricks`` with no unix stream to quotad's socket, from `ss -xpH`
    (state, queues, local path and inode, peer path and inode, users): quotad's end has the
    socket's path and names the brick's end as its peer."""
    served: set[str] = set()  # inodes of the clients' ends that quotad accepted
    owners: dict[str, set[int]] = {}
    for line in ss_output.splitlines():
        f = line.split()
        if len(f) < 8 or f[0] != "u_str" or f[1] != "ESTAB":
            continue
        local, inode, peer = f[4], f[5], f[7]
        if local == QUOTAD_SOCKET:
            served.add(peer)
        owners.setdefault(inode, set()).update(int(p) for p in re.findall(r"pid=(\d+)", line))
    connected = {pid for inode in served for pid in owners.get(inode, ())}
    return {pid: vol for pid, vol in bricks.items() if pid not in connected}


def restart_quotad(volume: str) -> None:
    """quotad stopped and gone, then started again by glusterd."""
    try:
        with open(QUOTAD_PIDFILE) as fh:
            pid = int(fh.read().strip())
        os.kill(pid, signal.SIGTERM)  # glusterd's quotad, by its pidfile
        deadline = time.monotonic() + EXIT_S
        while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}"):
            time.sleep(0.2)
    except (OSError, ValueError):
        pass  # not running: glusterd starts it below
    res = subprocess.run(["gluster", "--mode=script", "volume", "start", volume, "force"], capture_output=True, text=True,
                         timeout=GLUSTER_TIMEOUT_S)
    print(f"quotad restarted for {volume}: {(res.stdout + res.stderr).strip()}", flush=True)


def main() -> None:
    misses: dict[int, int] = {}
    last_restart = 0.0
    while True:
        bricks = claim_bricks()
        ss = subprocess.run(["ss", "-xpH"], capture_output=True, text=True, timeout=30).stdout if bricks else ""
        now = unconnected(ss, bricks)
        misses = {pid: misses.get(pid, 0) + 1 for pid in now}
        lost = {pid: now[pid] for pid, n in misses.items() if n >= MISSES}
        if lost and time.monotonic() - last_restart > RESTART_GAP_S:
            print(f"bricks without quotad for {MISSES} checks: {sorted(set(lost.values()))}", flush=True)
            restart_quotad(next(iter(lost.values())))
            last_restart = time.monotonic()
            misses = {}
        time.sleep(CHECK_S)


if __name__ == "__main__":
    sys.exit(main())
