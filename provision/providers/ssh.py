"""Commands on lab hosts over ssh, each host reached as an ssh config names it (the format
of `vagrant ssh-config`): what the existing and vagrant providers share."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

from provision.providers.base import Result

#: ssh's waits for a host that does not answer: the connection (with its banner), and the
#: silence after which an open connection is given up (interval x count).
CONNECT_S, ALIVE_INTERVAL_S, ALIVE_COUNT = 5, 5, 2


def connect_s(patience: float) -> int:
    return round(CONNECT_S * patience)


def ssh_options(patience: float = 1.0) -> list[str]:
    """``patience``: how many times slower than hardware the hosts answer (VMs under software
    emulation): ssh's waits for a silent host are that many times longer."""
    opts = ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={connect_s(patience)}",
            "-o", f"ServerAliveInterval={ALIVE_INTERVAL_S}", "-o", f"ServerAliveCountMax={round(ALIVE_COUNT * patience)}"]
    if os.name != "nt":  # Windows' OpenSSH has no connection sharing
        # one connection per host, reused by the many short commands of a test run
        opts += ["-o", "ControlMaster=auto", "-o", "ControlPath=/tmp/underhood-ssh-%C", "-o", "ControlPersist=30"]
    return opts


def transport_failed(rc: int, stdout: str) -> bool:
    """ssh's own failure, not the command's: 255 with nothing printed. A shared connection
    that ControlPersist closes just as a command joins it fails that way, once."""
    return rc == 255 and not stdout


class Ssh:
    def __init__(self, config: Path, sudo: bool = False, patience: float = 1.0) -> None:
        self.config = config
        #: Vagrant's boxes log in as an unprivileged user with passwordless sudo.
        self.sudo = sudo
        self.patience = patience

    def _base(self) -> list[str]:
        return ["ssh", "-F", str(self.config), *ssh_options(self.patience)]

    def command(self, host: str, argv: list[str]) -> list[str]:
        line = shlex.join(argv)
        return [*self._base(), host, "--", f"sudo -n -- {line}" if self.sudo else line]

    def run(self, host: str, argv: list[str], *, timeout: float = 60, input: str | None = None) -> Result:
        # a command's bound is for hardware: a host this many times slower gets as much longer
        timeout = timeout * self.patience
        for attempt in (1, 2):
            try:
                res = subprocess.run(self.command(host, argv), capture_output=True, text=True, timeout=timeout, input=input)
            except subprocess.TimeoutExpired:
                return Result(124, "", f"timed out after {timeout} s: {' '.join(argv)}")
            if not transport_failed(res.returncode, res.stdout) or attempt == 2:
                break
        if transport_failed(res.returncode, res.stdout) and not res.stderr.strip():
            # Vagrant's ssh-config sets LogLevel FATAL: ssh says nothing of its own failure
            return Result(res.returncode, "", f"ssh got no answer from {host} twice (exit 255, ssh printed nothing; "
                                               f"it waits {connect_s(self.patience)} s to connect)")
        return Result(res.returncode, res.stdout, res.stderr)

    def spawn(self, host: str, argv: list[str], output: Path) -> subprocess.Popen:
        with open(output, "wb") as out:
            return subprocess.Popen(self.command(host, argv), stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.DEVNULL, start_new_session=True)

    def stop_argv(self, host: str) -> list[str]:
        """Ends the connection kept open to a host for reuse (none: ssh says so, harmlessly)."""
        return [*self._base(), "-O", "exit", host]

    def connect_argv(self, host: str, address: str, port: int) -> list[str]:
        return [*self._base(), "-W", f"{address}:{port}", host]

    def shell_argv(self, host: str, command: list[str]) -> list[str]:
        line = shlex.join(command)
        return ["ssh", "-t", "-F", str(self.config), host, "--", f"sudo -- {line}" if self.sudo else line]
