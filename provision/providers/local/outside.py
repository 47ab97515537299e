"""The gateway's "outside": a network namespace of ours with a stub upstream resolver and a
small TCP service that answers with the address it sees (to prove NAT). No route leads from
it, or from any lab host, to this machine's real networks."""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
from pathlib import Path

from provision.system import sh

#: TEST-NET-2 (RFC 5737): a documentation range, never a lab address. (TEST-NET-3 is not
#: free on every machine: some reach their package mirrors there.)
OUTSIDE_NET = ipaddress.IPv4Network("198.51.100.0/24")
OUTSIDE_ADDRESS = OUTSIDE_NET[1]
WAN_ADDRESS = OUTSIDE_NET[2]
#: The one name the stub resolves; every other name is refused.
STUB_NAME = "outside.test"
SERVICE_PORT = 8080


class Outside:
    def __init__(self, netns: str, state: Path) -> None:
        self.netns = netns
        self.state = state

    def create(self) -> None:
        if not Path(f"/run/netns/{self.netns}").exists():
            sh("ip", "netns", "add", self.netns)
        sh("ip", "-n", self.netns, "link", "set", "dev", "lo", "up")

    def attach(self, link: str) -> bool:
        """Move the gateway's uplink (host side) in here and give it the outside address;
        return True when it was not attached yet."""
        moved = Path(f"/sys/class/net/{link}").exists()
        if moved:
            sh("ip", "link", "set", "dev", link, "netns", self.netns)
        sh("ip", "-n", self.netns, "addr", "replace", f"{OUTSIDE_ADDRESS}/{OUTSIDE_NET.prefixlen}", "dev", link)
        sh("ip", "-n", self.netns, "link", "set", "dev", link, "up")
        return moved

    def _start(self, name: str, argv: list[str]) -> bool:
        pidfile = self.state / f"{name}.pid"
        if _alive(pidfile):
            return False
        log = open(self.state / f"{name}.log", "ab")
        proc = subprocess.Popen(["ip", "netns", "exec", self.netns, *argv], stdin=subprocess.DEVNULL, stdout=log,
                                stderr=log, start_new_session=True)
        pidfile.write_text(str(proc.pid))
        return True

    def start_services(self) -> bool:
        started = self._start("stub-dns", [
            "dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--bind-interfaces",
            f"--listen-address={OUTSIDE_ADDRESS}", f"--address=/{STUB_NAME}/{OUTSIDE_ADDRESS}", "--log-queries",
            "--log-facility=-", "--user=root", "--pid-file=",
        ])
        started |= self._start("service", [sys.executable, "-m", "provision.providers.local.peer_echo", str(OUTSIDE_ADDRESS), str(SERVICE_PORT)])
        return started

    def stop_services(self) -> None:
        for pidfile in self.state.glob("*.pid"):
            pid = _alive(pidfile)
            if pid:
                os.killpg(pid, signal.SIGKILL)
            pidfile.unlink(missing_ok=True)

    def delete(self) -> None:
        self.stop_services()
        if Path(f"/run/netns/{self.netns}").exists():
            sh("ip", "netns", "delete", self.netns, check=False)


def _alive(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None
