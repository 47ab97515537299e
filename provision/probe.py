"""A probe: one of the agents, running inside a lab host for a bounded time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

from provision.agents import source
from provision.errors import ProviderError
from provision.waiting import until


def lifetime(lab, seconds: float) -> str:
    """A probe's bound on its own life, as its agent's argument: as long again as the waits on
    it, on VMs that answer slower (the provider's wait_scale), so the probe still runs when
    the slow lab's recovery ends."""
    return f"{seconds * getattr(lab, 'wait_scale', 1.0):g}"


class Probe:
    def __init__(self, lab, host: str, agent: str, args: list[str], output: Path) -> None:
        self.lab, self.host, self.agent, self.args, self.output = lab, host, agent, args, output
        self.proc: subprocess.Popen | None = None

    def start(self) -> Probe:
        self.output.parent.mkdir(parents=True, exist_ok=True)
        self.proc = self.lab.spawn(self.host, ["python3", "-c", source(self.agent), *self.args], self.output)
        return self

    def _group_alive(self) -> bool:
        try:
            os.killpg(self.proc.pid, 0)
            return True
        except ProcessLookupError:
            return False

    def stop(self) -> None:
        """SIGTERM to the probe's process group (our own child's, by PID), then wait until
        every process of it is gone: the launcher (nsenter, ssh) may exit first, while the
        agent still finishes and prints its last operation."""
        if self.proc is None or not self._group_alive():
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            until(lambda: self.proc.poll() is not None and not self._group_alive(), 5, "the probe to end", interval=0.05)
        except ProviderError:
            if self._group_alive():
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def samples(self) -> list[dict]:
        out = []
        if self.output.exists():
            for line in self.output.read_text().splitlines():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    pass  # the last line of a killed probe may be cut
        # by start time: an agent whose attempts overlap (tcp_probe) prints them as they end
        out.sort(key=lambda s: s.get("t", 0.0))
        return out

    def wait_for(self, condition, timeout: float, what: str) -> list[dict]:
        """Poll the probe's samples until ``condition(samples)`` holds; bounded."""

        def seen() -> list[dict] | None:
            samples = self.samples()
            if condition(samples):
                return samples
            if self.proc and self.proc.poll() is not None:
                raise AssertionError(f"{what}: the probe ended before it was seen")
            return None

        # as the provider's own waits: VMs under emulation answer that many times slower
        return until(seen, timeout * getattr(self.lab, "wait_scale", 1.0), what, interval=0.1, error=AssertionError)
