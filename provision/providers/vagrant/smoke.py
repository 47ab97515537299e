"""`tox -e vagrant-libvirt-smoke`: the vagrant provider for real, on libvirt under QEMU's
software emulation (this machine's KVM cannot boot a Debian kernel): a plan of six VMs (the
gateway, both load balancers, one master, one worker, the admin host) from a box of our own with every
package baked in, on isolated libvirt networks, converged by the step library over ssh with
Kubernetes (binaries and images built here, uploaded); then the conformance tests of those
hosts and of the cluster through the same ssh-config path, and one chaos scenario (the VIP
holder powered off). Each phase is timed into reports/vagrant-libvirt-smoke.json. Everything
it creates is named uh- and removed at the end, also when a step fails. Root on Linux."""

from __future__ import annotations

import copy
import ipaddress
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from provision import topology
from provision.errors import UnderhoodError
from provision.providers.vagrant import VagrantProvider, boxbuild, virsh
from provision.providers.vagrant.machines import ROOT
from provision.providers.vagrant.vboxmanage import vm_name
from provision.providers.vagrant.virsh import VIRSH
from provision.system import remove_tree, sh
from provision.vagrant_data import intnet
from provision.waiting import until

STATE = Path("/var/lib/underhood/vagrant-smoke")
#: The VMs' serial consoles, written by libvirt.
CONSOLES = STATE / "consoles"
#: Vagrant's wait for a VM's ssh: five VMs booting at once under emulation on 2 cores took
#: longer than its 900 s once (run 6, 2026-12-05; one alone boots in about 2 minutes).
BOOT_TIMEOUT_S = 1800
REPORT = ROOT / "reports" / "vagrant-libvirt-smoke.json"
#: Vagrant's management network: a benchmarking range (RFC 2544), never a real one.
MANAGEMENT_CIDR = "198.18.121.0/24"
BOX_NAME = "underhood/smoke"
MEMORY_MB = 512
#: kubeadm's preflight wants 1700 MiB and 2 CPUs on a control-plane node; a worker runs the add-ons.
KUBERNETES_MEMORY_MB = {"master": 1800, "worker": 1024}
KUBERNETES_CPUS = {"master": 2}
#: QEMU's translated-code cache per VM (the Vagrantfile's default is 128): the master runs
#: etcd, the API server, the controller manager, the scheduler, kubelet and containerd at once
#: (runs 8 and 10 stopped there, slow). At most 3 GiB of this machine's memory for the six.
TB_CACHE_MB = 512
APT = ("qemu-system-x86", "qemu-utils", "libvirt-daemon-system", "libvirt-clients", "vagrant", "vagrant-libvirt",
       "dnsmasq-base", "fdisk", "mmdebstrap", "lvm2")
#: Software emulation against hardware, roughly: kubeadm's API calls outlived its 1-minute
#: default there (measured: the admin user's ClusterRoleBinding, 2026-12-04). The steps' waits
#: and kubeadm's own timeouts are this many times longer in the smoke.
EMULATION_SLOWDOWN = 5
#: kubeadm's defaults (v1beta4), to be multiplied.
KUBEADM_TIMEOUTS_S = {"controlPlaneComponentHealthCheck": 240, "kubeletHealthCheck": 240, "kubernetesAPICall": 60,
                      "etcdAPICall": 120, "tlsBootstrap": 300, "discovery": 300}
#: The controller manager's and scheduler's defaults, to be multiplied: under emulation their
#: lease renewals outlived the 10 s deadline and both exited before any DaemonSet pod (flannel)
#: was made (run 5, 2026-12-05).
LEADER_ELECTION_S = {"lease_duration_s": 15, "renew_deadline_s": 10, "retry_period_s": 2}
#: The conformance tests of the six hosts and their cluster.
TESTS = ("tests/test_hosts.py", "tests/test_network.py", "tests/test_loadbalancer.py", "tests/test_etcd.py",
         "tests/test_kubernetes.py")
#: One chaos scenario: the VIP holder powered off, once.
CHAOS = ("chaos/test_loadbalancer.py", "-k", "vip_moves")


def smoke_plan_data(raw: dict) -> dict:
    """The default plan cut to the gateway, both load balancers, the first master, the first
    worker and the admin host: the documents' jump host, where the tests' clients and the
    chaos scenarios' probes run (run 20 had none: those tests failed on its absence)."""
    data = copy.deepcopy(raw)
    by_role: dict[str, list[dict]] = {}
    for h in data["hosts"]:
        by_role.setdefault(h["role"], []).append(h)
    masters = by_role["master"][:1]
    data["hosts"] = [*by_role["gateway"], *by_role["loadbalancer"], *masters, by_role["worker"][0], *by_role["admin"]]
    for role, spec in data["roles"].items():
        spec["memory_mb"] = KUBERNETES_MEMORY_MB.get(role, MEMORY_MB)
        spec["cpus"] = KUBERNETES_CPUS.get(role, 1)
    data["metallb"]["controller_replicas"] = len(masters)  # one per master
    data["metallb"]["probe_timeout_s"] = EMULATION_SLOWDOWN
    data["vagrant"]["box"] = BOX_NAME
    # every process that reads the plan waits as long: `up`, and the tests' and the scenario's
    # own (run 22's K8S-09 lost a worker's address to a 10 s ssh bound under a load of 20)
    data["vagrant"]["slowdown"] = EMULATION_SLOWDOWN
    data["kubernetes"]["kubeadm_timeouts"] = {k: f"{v * EMULATION_SLOWDOWN}s" for k, v in KUBEADM_TIMEOUTS_S.items()}
    data["kubernetes"]["leader_election"] = {k: v * EMULATION_SLOWDOWN for k, v in LEADER_ELECTION_S.items()}
    data["kubernetes"]["encryption_algorithm"] = "ECDSA-P256"
    return data


def env() -> dict[str, str]:
    return {"VAGRANT_DEFAULT_PROVIDER": "libvirt", "UNDERHOOD_LIBVIRT_DRIVER": "qemu", "UNDERHOOD_LIBVIRT_MANAGEMENT": "none",
            "UNDERHOOD_LIBVIRT_MANAGEMENT_CIDR": MANAGEMENT_CIDR, "UNDERHOOD_LIBVIRT_POOL": "uh-pool",
            "VAGRANT_HOME": str(STATE / "vagrant.d"), "VAGRANT_CHECKPOINT_DISABLE": "1",
            "UNDERHOOD_LIBVIRT_CONSOLE_DIR": str(CONSOLES), "UNDERHOOD_BOOT_TIMEOUT": str(BOOT_TIMEOUT_S),
            "UNDERHOOD_LIBVIRT_TB_CACHE_MB": str(TB_CACHE_MB)}


def console_tails(lines: int = 12) -> dict[str, str]:
    """The end of each VM's serial console: where a VM that did not answer stopped."""
    out = {}
    for log in sorted(CONSOLES.glob("*.log")):
        text = log.read_bytes().decode(errors="replace")
        out[log.stem] = "\n".join(text.replace("\r", "").splitlines()[-lines:])
    return out


def clocksources() -> dict[str, str | None]:
    """The clock each VM's kernel settled on, the last switch its console printed: under
    emulation an HPET instead of the TSC makes every clock read a device access (run 8's
    master), so a slow run says whether that was why."""
    return {log.stem: clocksource(log.read_bytes().decode(errors="replace")) for log in sorted(CONSOLES.glob("*.log"))}


def clocksource(console: str) -> str | None:
    switches = re.findall(r"clocksource: Switched to clocksource (\S+)", console)
    return switches[-1] if switches else None


def translation_caches(plan: topology.Plan) -> dict[str, dict[str, int]]:
    """Per VM, QEMU's translated code and how often its cache was full and thrown away
    (`info jit`): a cache flushed again and again means every hot path translated again."""
    out = {}
    for h in plan.hosts:
        res = sh(*VIRSH, "qemu-monitor-command", "--hmp", vm_name(plan, h), "info jit", check=False)
        out[h.name] = jit_counts(res.stdout)
    return out


def jit_counts(info: str) -> dict[str, int]:
    found = {key: re.search(rf"^{label}\s+(\d+)", info, re.MULTILINE) for key, label in
             (("tbs", "TB count"), ("flushes", "TB flush count"))}
    return {key: int(m.group(1)) for key, m in found.items() if m}


def host_loop_s() -> float:
    """This machine's speed, so runs on different days compare: the median of three runs of
    a fixed loop (the notes' machine: 0.31 s)."""
    times = []
    for _ in range(3):
        start = time.perf_counter()
        sum(range(10**7))
        times.append(time.perf_counter() - start)
    return round(statistics.median(times), 2)


@contextmanager
def libvirt() -> Iterator[None]:
    """libvirtd and virtlogd (no systemd here: started by us, stopped by PID), /dev/kvm as
    udev would leave it (else libvirt re-probes QEMU on every call); put back afterwards."""
    started: list[int] = []
    kvm = os.stat("/dev/kvm") if os.path.exists("/dev/kvm") else None
    chains_before = libvirt_chains()
    try:
        if kvm is not None:
            sh("chgrp", "kvm", "/dev/kvm")
            os.chmod("/dev/kvm", 0o660)
        for daemon, pidfile in (("virtlogd", "/run/virtlogd.pid"), ("libvirtd", "/run/libvirtd.pid")):
            if not Path(pidfile).exists():
                sh(f"/usr/sbin/{daemon}", "-d")
                until(lambda p=pidfile: Path(p).exists() and Path(p).read_text().strip(), 20, f"{daemon}'s pid file")
                started.append(int(Path(pidfile).read_text().split()[0]))
        yield
    finally:
        for pid in reversed(started):
            if pid:
                try:
                    os.kill(pid, 15)
                except ProcessLookupError:
                    pass
        if started:
            # the daemons take a moment to go; their chains are ours to remove after
            until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in started), 30, "libvirtd and virtlogd gone")
            remove_libvirt_chains(libvirt_chains() - chains_before)
        if kvm is not None:
            os.chown("/dev/kvm", kvm.st_uid, kvm.st_gid)
            os.chmod("/dev/kvm", kvm.st_mode & 0o777)


def management_xml(plan: topology.Plan) -> str:
    """Vagrant's management network: DHCP for its ssh, no DNS, no <forward> (no way out)."""
    net = ipaddress.ip_network(MANAGEMENT_CIDR)
    name = intnet(plan, "mgmt")
    return (f"<network ipv6='no'><name>{name}</name><bridge name='{name}' stp='off'/><dns enable='no'/>"
            f"<ip address='{net[1]}' netmask='{net.netmask}'><dhcp><range start='{net[10]}' end='{net[250]}'/></dhcp></ip>"
            "</network>")


def libvirt_chains() -> set[tuple[str, str, str]]:
    """(command, table, chain) of libvirt's firewall chains now on this machine."""
    found = set()
    for cmd in ("iptables", "ip6tables"):
        for table in ("filter", "nat", "mangle"):
            for rule in sh(cmd, "-t", table, "-S", check=False).stdout.splitlines():
                if rule.startswith("-N LIBVIRT_"):
                    found.add((cmd, table, rule.split()[1]))
    return found


def remove_libvirt_chains(chains: set[tuple[str, str, str]]) -> None:
    """libvirtd leaves its chains behind when it stops: the jumps into them, then them."""
    for cmd, table in {(c, t) for c, t, _ in chains}:
        mine = {chain for c, t, chain in chains if (c, t) == (cmd, table)}
        for rule in sh(cmd, "-t", table, "-S", check=False).stdout.splitlines():
            words = rule.split()
            if words[0] == "-A" and words[-1] in mine and words[1] not in mine:
                sh(cmd, "-t", table, "-D", *words[1:], check=False)
        for chain in mine:
            sh(cmd, "-t", table, "-F", chain, check=False)
        for chain in mine:
            sh(cmd, "-t", table, "-X", chain, check=False)


def networks_and_pool(plan: topology.Plan) -> None:
    """The lab's networks before Vagrant looks for them (vagrant-libvirt creates no network
    without an address), and the management network with them: libvirt refuses to start a
    network whose range has a route already, so the guard route comes after it."""
    for network in [*plan.networks, "mgmt"]:
        name = intnet(plan, network)
        if sh(*VIRSH, "net-info", name, check=False).returncode != 0:
            xml = STATE / f"{name}.xml"
            # the lab's: no <forward>, no <ip>: a switch with no way out, no address here
            xml.write_text(management_xml(plan) if network == "mgmt" else
                           f"<network><name>{name}</name><bridge name='{name}' stp='off'/></network>")
            sh(*VIRSH, "net-define", str(xml))
        sh(*VIRSH, "net-start", name, check=False)
    if sh(*VIRSH, "pool-info", "uh-pool", check=False).returncode != 0:
        (STATE / "pool").mkdir(parents=True, exist_ok=True)
        sh(*VIRSH, "pool-define-as", "uh-pool", "dir", "--target", str(STATE / "pool"))
    sh(*VIRSH, "pool-start", "uh-pool", check=False)


def remove_domains(plan: topology.Plan) -> list[str]:
    """The plan's VMs as libvirt knows them, stopped and removed with their disks, and
    Vagrant's record of them: what `vagrant destroy` does, for when it cannot (an interrupted
    `up` leaves it failing). Returns the domains it found."""
    found = []
    for h in plan.hosts:
        name = vm_name(plan, h)
        if sh(*VIRSH, "dominfo", name, check=False).returncode != 0:
            continue
        found.append(name)
        sh(*virsh.poweroff(plan, h), check=False)
        sh(*VIRSH, "undefine", name, "--remove-all-storage", "--nvram", check=False)
        remove_tree(ROOT / ".vagrant" / "machines" / h.name / "libvirt")
    return found


def remove_networks_and_pool(plan: topology.Plan) -> None:
    for network in [*plan.networks, "mgmt"]:
        name = intnet(plan, network)
        sh(*VIRSH, "net-destroy", name, check=False)
        sh(*VIRSH, "net-undefine", name, check=False)
    for vol in sh(*VIRSH, "vol-list", "uh-pool", "--name", check=False).stdout.split():
        sh(*VIRSH, "vol-delete", "--pool", "uh-pool", vol, check=False)
    sh(*VIRSH, "pool-destroy", "uh-pool", check=False)
    sh(*VIRSH, "pool-undefine", "uh-pool", check=False)
    # what vagrant-libvirt uploaded there and libvirt no longer lists (a box image per run)
    remove_tree(STATE / "pool")


def on_terminate(signum: int, frame: object) -> None:
    """tox ends an interrupted env with SIGTERM: unwound like Ctrl-C, so the VMs, networks,
    route and daemons go as at the end of a run (run 14's were left by SIGTERM's default)."""
    raise SystemExit(128 + signum)


def main() -> int:
    if os.geteuid() != 0:
        print("the libvirt smoke run needs root (libvirtd, loop devices, routes)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, on_terminate)
    figures: dict[str, object] = {"host_loop_s": host_loop_s()}
    t0 = time.monotonic()
    sh("apt-get", "install", "-y", "-qq", "--no-install-recommends", *APT, timeout=1800)
    STATE.mkdir(parents=True, exist_ok=True)
    remove_tree(CONSOLES)
    CONSOLES.mkdir()
    plan_file = STATE / "smoke.yaml"
    plan_file.write_text(yaml.safe_dump(smoke_plan_data(yaml.safe_load(topology.DEFAULT_PLAN.read_text())), sort_keys=False))
    plan = topology.load(plan_file)
    start = time.monotonic()
    box = boxbuild.build(plan, log=print)
    figures["box_build_s"] = round(time.monotonic() - start, 1)
    os.environ.update(env())
    with libvirt():
        provider = VagrantProvider(plan, plan_file)
        try:
            # an interrupted run's VMs first: their disks are in the pool about to be made again
            if leftovers := remove_domains(plan):
                print(f"removed VMs an earlier run left: {', '.join(leftovers)}")
            networks_and_pool(plan)
            # Before any VM exists: nothing for the management range leaves by the real network.
            sh("ip", "route", "replace", "unreachable", MANAGEMENT_CIDR, "metric", "4000")
            sh("vagrant", "box", "add", "--force", "--name", BOX_NAME, str(box), timeout=600)
            start = time.monotonic()
            try:
                provider.up()
            except UnderhoodError as e:
                # recorded with the time it took to fail; the VMs are removed all the same
                figures["up_failed"] = str(e)[-4000:]
                figures["consoles"] = console_tails()
                raise
            finally:
                figures["up_s"] = round(time.monotonic() - start, 1)
                figures["clocksources"] = clocksources()
                figures["translation_caches"] = translation_caches(plan)
                figures["up_recoveries"] = provider.recoveries
            figures["up_steps_s"] = json.loads((provider.state / "last-up.json").read_text())["steps"]
            for phase, argv, extra in (("tests", TESTS, {}), ("chaos", CHAOS, {"CHAOS_VIP_RUNS": "1"})):
                start = time.monotonic()
                res = subprocess.run([sys.executable, "-m", "pytest", *argv, "-p", "no:cacheprovider", "-p", "no:xdist",
                                      "-o", "addopts=", "--provider", "vagrant", "--plan", str(plan_file),
                                      "--junitxml", str(ROOT / "reports" / f"junit-vagrant-libvirt-smoke-{phase}.xml")],
                                     cwd=ROOT, timeout=3600, env={**os.environ, **extra})
                figures[f"{phase}_s"] = round(time.monotonic() - start, 1)
                figures[f"{phase}_rc"] = res.returncode
            # the failover's gap and where its time went, from the scenario's timeline
            if (timeline := ROOT / "reports" / "chaos" / "lb-06-vip-failover-run1.json").exists():
                figures["vip_failover"] = json.loads(timeline.read_text())["figures"]
        finally:
            start = time.monotonic()
            try:
                provider.down()
            except Exception as e:  # whatever vagrant says, the VMs go below
                figures["down_failed"] = str(e)[-500:]
            finally:
                # what `vagrant destroy` left (none when it worked), then their networks
                figures["removed_by_virsh"] = remove_domains(plan)
                remove_networks_and_pool(plan)
                sh("vagrant", "box", "remove", "--force", BOX_NAME, check=False)
                # the VMs' processes are gone with them: the guard may go
                sh("ip", "route", "del", "unreachable", MANAGEMENT_CIDR, "metric", "4000", check=False)
            figures["down_s"] = round(time.monotonic() - start, 1)
            figures["total_s"] = round(time.monotonic() - t0, 1)
            REPORT.parent.mkdir(exist_ok=True)
            REPORT.write_text(json.dumps(figures, indent=2))
            print(json.dumps(figures, indent=2))
    return int(figures.get("tests_rc", 1) or figures.get("chaos_rc", 1))


if __name__ == "__main__":
    sys.exit(main())
