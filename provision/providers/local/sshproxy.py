"""The local provider's ssh ProxyCommand: stdin/stdout to a host's sshd on its own loopback,
through the host's namespaces.

Run by path with the standard library only (``python -I sshproxy.py PIDFILE MACHINE``): ssh
starts one per connection, and thirteen hosts each importing the provisioner (about 1 s of
CPU) on a loaded 2-core machine took longer than ssh's ConnectTimeout, so every attempt failed
and was retried (a CI run's `ssh-path` ended so)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def is_nspawn_of(pid: int, machine: str) -> bool:
    """``pid`` is the systemd-nspawn of ``machine`` (PIDs are reused)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return argv[0].endswith(b"systemd-nspawn") and f"--machine={machine}".encode() in argv


def init_pid(pid: int) -> int | None:
    """nspawn's child: the container's PID 1."""
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        if children:
            return int(children[0])
    return None


def connect_argv(init: int, address: str, port: int) -> list[str]:
    """A byte stream to ``address``:``port`` as seen from inside the container of PID 1 ``init``."""
    return ["nsenter", "-t", str(init), "-a", "--", "nc", "-q", "1", address, str(port)]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: sshproxy.py PIDFILE MACHINE", file=sys.stderr)
        return 2
    pidfile, machine = Path(argv[0]), argv[1]
    try:
        pid = int(pidfile.read_text())
    except (OSError, ValueError):
        pid = 0
    first = init_pid(pid) if pid and is_nspawn_of(pid, machine) else None
    if first is None:
        print(f"{machine} is not running (no nspawn in {pidfile})", file=sys.stderr)
        return 1
    argv = connect_argv(first, "127.0.0.1", 22)
    os.execvp(argv[0], argv)
    return 1  # not reached: exec replaces this process


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
