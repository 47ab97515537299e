"""The lab's VMs through Vagrant: a thin interface of ours over python-vagrant (whose last
release is from 2022), so the rest of underhood never imports it and it can be replaced."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from provision.errors import ProviderError

ROOT = Path(__file__).resolve().parents[3]

#: `vagrant up` may wait for a guest forever (a domain that never gets an address); bounded.
UP_TIMEOUT_S = 1800


class Machines:
    def __init__(self, provider: str, plan_file: Path | None = None, root: Path = ROOT) -> None:
        import vagrant  # python-vagrant

        self.provider = provider
        self.root = root
        self.env = {**os.environ, "VAGRANT_CHECKPOINT_DISABLE": "1", "UNDERHOOD_PLAN": str(plan_file or "")}
        self._v = vagrant.Vagrant(str(root), quiet_stdout=True, quiet_stderr=True, env=self.env)

    def up(self, names: list[str], timeout: float = UP_TIMEOUT_S) -> None:
        """Create and boot the VMs without Vagrant's provisioners (ours run over ssh after).
        Not python-vagrant's up(): it cannot be bounded in time."""
        argv = ["vagrant", "up", "--no-provision", "--provider", self.provider, *names]
        proc = subprocess.Popen(argv, cwd=self.root, env=self.env, start_new_session=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            out, _ = proc.communicate()
            raise ProviderError(f"`{' '.join(argv)}` did not finish in {timeout:.0f} s; the VMs are left as they are: "
                                "`tox -e destroy` removes them") from None
        except BaseException:
            # interrupted: vagrant runs in a session of its own, so it would go on alone and hold
            # the machines' lock against the `destroy` that follows
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=120)
            raise
        if proc.returncode != 0:
            tail = "\n".join(out.splitlines()[-15:])
            raise ProviderError(f"`{' '.join(argv)}` failed (exit {proc.returncode}):\n{tail}\n"
                                "fix the cause and run `up` again (it resumes), or `tox -e destroy`")

    def states(self) -> dict[str, str]:
        """VM name -> Vagrant's state (running, poweroff, not_created, shutoff...)."""
        return {s.name: s.state for s in self._v.status()}

    def ssh_config(self, name: str) -> str:
        return self._v.ssh_config(vm_name=name)

    def destroy(self) -> None:
        self._v.destroy()
