"""The local provider's ssh ProxyCommand: it starts on the standard library alone (ssh starts
one per connection, and importing the provisioner in each took longer than ssh's
ConnectTimeout on a loaded machine), and it finds a host's PID 1 only through that host's own
nspawn."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess

from provision import topology
from provision.providers.local import LocalProvider, sshproxy
from provision.waiting import until

SCRIPT = sshproxy.__file__
PLAN = topology.load()


def test_the_ssh_configs_proxy_imports_nothing_of_the_provisioner_or_its_libraries(tmp_path, monkeypatch):
    monkeypatch.setattr(LocalProvider, "ssh_key", lambda self: tmp_path / "id_ed25519")
    lab = LocalProvider(PLAN, log=lambda *a: None)
    lab.state = tmp_path  # no lab here: its hosts' pidfiles are absent
    gate = PLAN.gateway.name
    block = lab.ssh_config().split(f"Host {gate}\n")[1].split("\nHost ")[0]
    command = shlex.split(next(ln for ln in block.splitlines() if "ProxyCommand" in ln))[1:]
    assert command[2] == SCRIPT, command
    res = subprocess.run([command[0], "-X", "importtime", *command[1:]], capture_output=True, text=True, timeout=60)
    imported = {ln.split("|")[-1].strip().split(".")[0] for ln in res.stderr.splitlines() if ln.startswith("import time:")}
    assert imported, f"no import log: {res.stderr}"  # the positive control: -X importtime did report
    assert not imported & {"provision", "rich", "pydantic", "yaml", "kubernetes"}, sorted(imported)
    assert res.returncode == 1 and f"{lab.container(gate).machine} is not running" in res.stderr


def test_it_finds_pid_1_only_under_the_machines_own_nspawn(tmp_path):
    # A stand-in for nspawn: argv[0] and --machine as nspawn has them, with one child.
    fake = subprocess.Popen(["bash", "-c", "exec -a /usr/bin/systemd-nspawn bash -c 'sleep 60 & wait' bash --machine=uh-test"])
    child = None
    try:
        pidfile = tmp_path / "nspawn.pid"
        pidfile.write_text(str(fake.pid))
        child = until(lambda: sshproxy.init_pid(fake.pid), 10, "the stand-in's child", interval=0.05)
        assert sshproxy.is_nspawn_of(fake.pid, "uh-test")
        assert sshproxy.init_pid(fake.pid) != fake.pid
        # another machine's nspawn, or a PID reused by something else, is not it
        assert not sshproxy.is_nspawn_of(fake.pid, "uh-other")
        assert not sshproxy.is_nspawn_of(os.getpid(), "uh-test")
        assert sshproxy.main([str(pidfile), "uh-other"]) == 1
    finally:
        # both started here, ended by PID
        if child:
            os.kill(child, signal.SIGKILL)
        fake.kill()
        fake.wait(timeout=10)
    assert sshproxy.main([str(pidfile), "uh-test"]) == 1  # gone: not running
