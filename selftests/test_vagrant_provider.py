"""The vagrant provider without VMs: Vagrant itself replaced by a stand-in on PATH that
records what it is asked, the hosts by an in-memory stand-in of `run`."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from provision import providers, topology
from provision.errors import ProviderError
from provision.providers.base import Result
from provision.providers.vagrant import VagrantProvider
from provision.providers.vagrant.machines import Machines
from provision.steps.hostfiles import network_files
from selftests.conftest import tool_on_path

PLAN = topology.load()

STATUS = """1700000000,gate-node01,metadata,provider,virtualbox
1700000000,gate-node01,provider-name,virtualbox
1700000000,gate-node01,state,running
1700000000,hapx-node01,provider-name,virtualbox
1700000000,hapx-node01,state,poweroff
"""


@pytest.fixture
def fake_vagrant(tmp_path, monkeypatch):
    """A `vagrant` that logs its arguments; `up` sleeps $FAKE_UP_SLEEP s and exits $FAKE_UP_RC."""
    log = tmp_path / "calls"
    tool_on_path(tmp_path, monkeypatch, "vagrant", f"""#!{sys.executable}
import os, sys, time
with open({str(log)!r}, "a") as f:
    f.write(" ".join(sys.argv[1:]) + "\\n")
if sys.argv[1] == "up":
    print("Bringing machine 'gate-node01' up with 'virtualbox' provider...")
    sys.stdout.flush()
    time.sleep(float(os.environ.get("FAKE_UP_SLEEP", "0")))
    sys.exit(int(os.environ.get("FAKE_UP_RC", "0")))
if sys.argv[1] == "status":
    print({STATUS!r}, end="")
if sys.argv[1] == "ssh-config":
    print(f"Host {{sys.argv[2]}}\\n  HostName 127.0.0.1\\n  User vagrant\\n  Port 2222\\n")
""")
    return log


def test_up_creates_the_vms_without_vagrants_provisioners(fake_vagrant, tmp_path):
    Machines("virtualbox", root=tmp_path).up(["gate-node01", "hapx-node01"])
    assert fake_vagrant.read_text().splitlines() == ["up --no-provision --provider virtualbox gate-node01 hapx-node01"]


def test_up_is_bounded_in_time(fake_vagrant, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_UP_SLEEP", "30")
    with pytest.raises(ProviderError, match=r"did not finish in 1 s.*tox -e destroy"):
        Machines("virtualbox", root=tmp_path).up(["gate-node01"], timeout=1)


def test_a_failed_up_shows_vagrants_words_and_the_way_out(fake_vagrant, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_UP_RC", "1")
    with pytest.raises(ProviderError, match=r"(?s)exit 1.*Bringing machine 'gate-node01'.*run `up` again"):
        Machines("virtualbox", root=tmp_path).up(["gate-node01"])


def test_states_and_ssh_config_come_from_vagrant(fake_vagrant, tmp_path):
    m = Machines("virtualbox", root=tmp_path)
    assert m.states() == {"gate-node01": "running", "hapx-node01": "poweroff"}
    assert "Port 2222" in m.ssh_config("gate-node01")


def test_auto_and_named_choose_the_vagrant_provider(fake_vagrant, monkeypatch):
    monkeypatch.delenv("VAGRANT_DEFAULT_PROVIDER", raising=False)
    assert isinstance(providers.get("vagrant", PLAN), VagrantProvider)
    monkeypatch.setenv("VAGRANT_DEFAULT_PROVIDER", "docker")
    with pytest.raises(ProviderError, match="VAGRANT_DEFAULT_PROVIDER=docker"):
        providers.get("vagrant", PLAN)


class FakeHosts:
    """Files of hosts in memory, as `run` sees them through ssh and sudo."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[str, str]] = {}
        self.calls: list[list[str]] = []

    def run(self, host: str, argv: list[str], *, timeout: float = 60, input: str | None = None) -> Result:
        self.calls.append(argv)
        script = argv[2]
        if "sha256sum" in script:
            path = argv[-1]
            if path not in self.files:
                return Result(1, "", "no such file")
            content, mode = self.files[path]
            return Result(0, f"{hashlib.sha256(content).hexdigest()}  -\n{mode}\n", "")
        if "install" in script:
            self.files[argv[-1]] = (base64.b64decode(input or ""), argv[-2].lstrip("0"))
            return Result(0, "", "")
        raise AssertionError(argv)


def test_write_changes_a_file_only_when_its_bytes_or_mode_differ(monkeypatch):
    p = VagrantProvider(PLAN)
    hosts = FakeHosts()
    monkeypatch.setattr(p, "run", hosts.run)
    assert p.write("gate-node01", "/etc/dnsmasq.conf", "a\n") is True
    assert hosts.files["/etc/dnsmasq.conf"] == (b"a\n", "644")
    assert p.write("gate-node01", "/etc/dnsmasq.conf", "a\n") is False
    assert p.write("gate-node01", "/etc/dnsmasq.conf", "a\n", "0600") is True
    assert p.write("gate-node01", "/etc/dnsmasq.conf", "b\n", "0600") is True
    assert p.write("gate-node01", "/etc/corosync/authkey", b"\x00\xffkey", "0400") is True
    assert hosts.files["/etc/corosync/authkey"] == (b"\x00\xffkey", "400")
    assert p.write("gate-node01", "/etc/corosync/authkey", b"\x00\xffkey", "0400") is False
    assert sum("install" in c[2] for c in hosts.calls) == 4


def test_faults_are_the_hypervisors(monkeypatch):
    calls: list[list[str]] = []

    def fake_run(argv, **kw):
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.delenv("VAGRANT_DEFAULT_PROVIDER", raising=False)
    p = VagrantProvider(PLAN)
    monkeypatch.setattr(subprocess, "run", fake_run)
    lb = PLAN.loadbalancers[0].name
    p.poweroff(lb)
    p.isolate(lb)
    p.heal(lb)
    assert calls == [["VBoxManage", "controlvm", f"{PLAN.lab.prefix}-{lb}", "poweroff"],
                     ["VBoxManage", "controlvm", f"{PLAN.lab.prefix}-{lb}", "setlinkstate2", "off"],
                     ["VBoxManage", "controlvm", f"{PLAN.lab.prefix}-{lb}", "setlinkstate2", "on"]]


def test_the_gateways_uplink_is_left_to_vagrant():
    gw = PLAN.gateway
    paths = [f.path for f in network_files(VagrantProvider(PLAN), gw)]
    wan = next(n.ifname for n in gw.nics if n.network == "wan")
    assert f"/etc/systemd/network/10-{wan}.network" not in paths
    assert len([p for p in paths if p.startswith("/etc/systemd/network/")]) == len(gw.nics) - 1


def test_the_ssh_config_is_every_hosts(fake_vagrant, tmp_path):
    p = VagrantProvider(PLAN)
    p.state = tmp_path / "state"
    p.write_ssh_config(Machines("virtualbox", root=tmp_path))
    text = Path(p.state / "ssh-config").read_text()
    assert [line.split()[1] for line in text.splitlines() if line.startswith("Host ")] == [h.name for h in PLAN.hosts]


def test_packages_installs_only_what_is_missing(monkeypatch):
    from provision.steps.hostfiles import packages

    p = VagrantProvider(PLAN)
    gw = PLAN.gateway
    have = {"sudo", "dnsmasq"}
    calls: list[list[str]] = []

    def run(host, argv, *, timeout=60, input=None):
        calls.append(argv)
        if argv[0] == "dpkg-query":
            asked = argv[3:]
            return Result(0, "".join(f"{pkg} install ok installed\n" for pkg in asked if pkg in have), "")
        if argv[:2] == ["systemd-detect-virt", "--container"]:
            return Result(1, "none\n", "")  # a VM
        return Result(0, "", "")

    monkeypatch.setattr(p, "run", run)
    packages(p, gw)
    install = calls[-1][-1]
    # the plan's carriers, not the documents' names: no resolvconf (conflicts), no ntopng (none)
    wanted = set(PLAN.debian_packages([*PLAN.base_packages, *PLAN.role_packages("gateway")]))
    assert "systemd-resolved" in wanted and not {"resolvconf", "ntopng"} & wanted
    assert install.startswith("export DEBIAN_FRONTEND=noninteractive; apt-get update")
    assert set(install.split("--no-install-recommends ")[1].split()) == wanted - have
    assert len(p.changes) == 1 and set(p.changes[0].split(": installed ")[1].split(", ")) == wanted - have
    calls.clear()
    have |= wanted
    packages(p, gw)
    assert [c[0] for c in calls if c[0] != "systemd-detect-virt"] == ["dpkg-query"]  # one query, no apt at all


def test_a_host_that_does_not_answer_is_not_taken_for_one_missing_every_package(monkeypatch):
    """Smoke run 9: dpkg's query got no answer over ssh, every package was taken for missing
    and the step said "installing ... failed:" with nothing after it."""
    from provision.steps.hostfiles import packages

    p = VagrantProvider(PLAN)
    monkeypatch.setattr(p, "run", lambda host, argv, **k: Result(255, "", f"ssh got no answer from {PLAN.gateway.name} twice"))
    with pytest.raises(ProviderError, match="asking dpkg which packages are installed failed \\(255\\): ssh got no answer"):
        packages(p, PLAN.gateway)


def slow_plan(slowdown: float) -> topology.Plan:
    import yaml

    raw = yaml.safe_load(topology.DEFAULT_PLAN.read_text())
    raw["vagrant"]["slowdown"] = slowdown
    return topology.parse(raw)


def test_ssh_waits_longer_for_vms_under_emulation_and_says_when_it_got_no_answer(tmp_path, monkeypatch):
    p = VagrantProvider(slow_plan(5))
    argv = p.exec_argv(PLAN.gateway.name, ["true"])
    assert "ConnectTimeout=25" in argv and "ServerAliveCountMax=10" in argv and p.wait_scale == 5
    assert "ConnectTimeout=5" in VagrantProvider(PLAN).exec_argv(PLAN.gateway.name, ["true"])  # hardware: as before
    tool_on_path(tmp_path, monkeypatch, "ssh", "#!/bin/sh\nexit 255\n")  # silent, as with Vagrant's LogLevel FATAL
    res = p.run(PLAN.gateway.name, ["true"])
    assert res.rc == 255 and f"no answer from {PLAN.gateway.name} twice" in res.stderr and "25 s" in res.stderr


def test_module_and_sysctl_files_are_applied_in_this_boot(monkeypatch):
    """K8S-01 on a VM: br_netfilter and the sysctls take effect without a reboot."""
    from provision import roles
    from provision.secrets import Secrets
    from provision.steps.hostfiles import apply_boot_files

    p = VagrantProvider(PLAN)
    calls: list[list[str]] = []
    monkeypatch.setattr(p, "run", lambda host, argv, *, timeout=60, input=None: calls.append(argv) or Result(0, "", ""))
    master = PLAN.masters[0]
    apply_boot_files(p, master, roles.files_for(PLAN, master, Secrets.generate()))
    assert calls == [["systemctl", "restart", "systemd-modules-load.service", "systemd-sysctl.service"]]
    calls.clear()
    lb = PLAN.loadbalancers[0]
    apply_boot_files(p, lb, roles.files_for(PLAN, lb, Secrets.generate()))
    assert calls == []  # nothing of the kind on a load balancer


def pci_nics(count: int) -> str:
    """LIST_NICS's output for a VM with ``count`` virtio NICs in PCI order (eth0 Vagrant's)."""
    return "\n".join(f"eth{i} 52:54:00:00:00:0{i} /sys/devices/pci0000:00/0000:00:0{5 + i}.0/virtio{i}" for i in range(count))


def test_lab_nics_get_the_plans_names_in_adapter_order():
    from provision.providers.vagrant.nics import nic_names

    gw = PLAN.gateway
    # libvirt with net.ifnames=0: eth0 is Vagrant's, then the lab's in the Vagrantfile's order
    listing = pci_nics(5)
    got = nic_names(listing, gw)
    assert [(name, want) for name, _, want in got] == [("eth1", "enp0s8"), ("eth2", "enp0s9"), ("eth3", "enp0s10"),
                                                       ("eth4", "enp0s16")]
    assert got[0][1] == "52:54:00:00:00:01"
    lb = PLAN.loadbalancers[0]
    with pytest.raises(ProviderError, match="has 5 NICs; the plan gives it 1"):
        nic_names(listing, lb)


def test_the_smoke_plan_is_six_small_vms_with_kubernetes_and_valid(tmp_path):
    import yaml

    from provision.providers.vagrant.smoke import KUBERNETES_MEMORY_MB, MEMORY_MB, smoke_plan_data
    from provision.validation import validate

    path = tmp_path / "smoke.yaml"
    path.write_text(yaml.safe_dump(smoke_plan_data(yaml.safe_load(topology.DEFAULT_PLAN.read_text()))))
    plan = topology.load(path)  # raises on any error
    assert [h.role for h in plan.hosts] == ["gateway", "loadbalancer", "loadbalancer", "master", "worker", "admin"]
    assert {h.role: getattr(plan.roles, h.role).memory_mb for h in plan.hosts} == {
        "gateway": MEMORY_MB, "loadbalancer": MEMORY_MB, "admin": MEMORY_MB, **KUBERNETES_MEMORY_MB}
    # kubeadm's preflight refuses a control-plane node with fewer
    assert {h.role: getattr(plan.roles, h.role).cpus for h in plan.hosts}["master"] == 2
    warnings = {w.path for w in validate(plan, source=str(path))}
    assert warnings == {"hosts"}  # one master, no Gluster: said, not refused


def test_the_plans_slowdown_lengthens_every_wait_of_every_process_that_reads_it(tmp_path):
    """Run 22's K8S-09 lost a worker's address to a 10 s ssh bound: the smoke had made only its
    own `up` patient. The slowdown is the plan's now, so the tests' and scenarios' runs read it."""
    import yaml

    from provision.providers.ssh import CONNECT_S
    from provision.providers.vagrant.smoke import EMULATION_SLOWDOWN, smoke_plan_data

    path = tmp_path / "smoke.yaml"
    path.write_text(yaml.safe_dump(smoke_plan_data(yaml.safe_load(topology.DEFAULT_PLAN.read_text()))))
    plan = topology.load(path)
    slow = VagrantProvider(plan, path)
    assert slow.wait_scale == EMULATION_SLOWDOWN
    assert f"ConnectTimeout={CONNECT_S * EMULATION_SLOWDOWN}" in slow.exec_argv(plan.workers[0].name, ["true"])
    # the control: the default plan's VMs are taken as hardware
    assert VagrantProvider(PLAN).wait_scale == 1


def test_the_box_lays_out_its_logical_volumes_in_one_piece_each():
    """HOST-07 in our box: each volume's extents, read from lvs, become a loop offset."""
    from provision.providers.vagrant import boxbuild

    found = boxbuild.volume_extents("  opt /dev/loop0p2:1152-1215\n  usr /dev/loop0p2:0-639\n")
    assert found == {"opt": (1152, 64), "usr": (0, 640)}
    with pytest.raises(ProviderError, match="usr is not one contiguous range"):
        boxbuild.volume_extents("  usr /dev/loop0p2:0-9 /dev/loop0p2:20-29\n")
    fstab = boxbuild.fstab().splitlines()
    assert fstab[0].startswith(f"LABEL={boxbuild.LABEL} / ")
    assert [line.split()[:2] for line in fstab[1:]] == [[f"/dev/mapper/uh-{lv}", f"/{lv}"] for lv in ("usr", "var", "tmp", "opt")]
    # a slow boot waits for the volumes systemd mounts rather than stopping in emergency
    # mode; /usr is the initramfs', whose mount would pass the option to the kernel
    options = {line.split()[1]: line.split()[3].split(",") for line in fstab[1:]}
    assert options["/usr"] == ["defaults"]
    assert all(boxbuild.DEVICE_TIMEOUT in options[f"/{lv}"] for lv in ("var", "tmp", "opt"))


def test_the_smoke_names_each_vms_clock_and_the_box_keeps_the_tsc():
    """Run 8's master fell back to the HPET (every clock read emulated): the smoke's figures
    say which clock each VM settled on, and the box's kernel trusts its TSC."""
    from provision.providers.vagrant import boxbuild
    from provision.providers.vagrant.smoke import clocksource

    master = ("[    0.007347] tsc: Marking TSC unstable due to TSCs unsynchronized\n"
              "[    3.052632] clocksource: Switched to clocksource hpet\n")
    worker = ("[    4.079342] clocksource: Switched to clocksource tsc-early\n"
              "[   10.479611] clocksource: Switched to clocksource tsc\n")
    assert (clocksource(master), clocksource(worker), clocksource("Booting 'Debian'")) == ("hpet", "tsc", None)
    (kernel,) = [line.split() for line in (boxbuild.FILES / "grub.cfg").read_text().splitlines() if line.strip().startswith("linux ")]
    assert "tsc=reliable" in kernel


def test_the_smoke_counts_each_vms_translated_code_and_its_flushes():
    """QEMU's `info jit` (7.2) read into the figures: a flush count that grows is a cache too
    small for what the VM runs; a monitor that answered nothing gives no figure, not a zero."""
    from provision.providers.vagrant.smoke import jit_counts

    info = ("Translation buffer state:\ngen code size       133876851/134213632\nTB count            418342\n"
            "TB avg target size  17 max=2534 bytes\n\nStatistics:\nTB flush count      37\nTB invalidate count 0\n")
    assert jit_counts(info) == {"tbs": 418342, "flushes": 37}
    assert jit_counts("error: Requested operation is not valid: domain is not running") == {}


def test_the_contracts_nic_naming_renames_a_vms_lab_nics(monkeypatch):
    """VagrantProvider.name_lab_nics, as the step library calls it: a .link file per lab NIC
    and the rename for this boot."""
    p = VagrantProvider(PLAN)
    lb = PLAN.loadbalancers[0]
    from provision.providers.vagrant.nics import LIST_NICS

    calls: list[list[str]] = []

    def run(host, argv, *, timeout=60, input=None):
        calls.append(argv)
        return Result(0, pci_nics(2) if LIST_NICS in argv else "", "")

    monkeypatch.setattr(p, "run", run)
    p.name_lab_nics(lb)
    nic = lb.lab_nic.ifname
    assert any(f"name {nic}" in " ".join(c) for c in calls)
    assert p.changes == [f"{lb.name}: {nic} by MAC 52:54:00:00:00:01", f"{lb.name}: renamed eth1 to {nic}"]


def test_a_terminated_smoke_unwinds_through_its_cleanup():
    """SIGTERM (what tox sends an interrupted env) raises SystemExit, so every `finally` that
    removes the VMs runs; left to its default, the signal ends the process where it stands."""
    import signal

    from provision.providers.vagrant.smoke import on_terminate

    cleaned = []
    with pytest.raises(SystemExit) as caught:
        try:
            on_terminate(signal.SIGTERM, None)
        finally:
            cleaned.append(True)
    assert caught.value.code == 143 and cleaned == [True]
