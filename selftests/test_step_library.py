"""The step library and the provider contract it uses: steps import no provider, no
provider imports another; uploads are checksummed, resumable and verified."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from provision import topology
from provision.errors import ProviderError
from provision.providers.base import Result
from provision.steps.cluster import kubectl_until
from provision.waiting import until
from selftests.conftest import ContractOnly, tool_on_path

ROOT = Path(__file__).resolve().parents[1] / "provision"
PLAN = topology.load()


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (lazy imports in functions too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def provider_imports(f: Path) -> list[str]:
    """Imports of a provider's modules (the contract, providers.base, is not one)."""
    return sorted(m for m in imported_modules(f) if m.startswith("provision.providers") and not m.startswith("provision.providers.base"))


def test_the_steps_import_no_provider():
    offenders = {str(f.relative_to(ROOT)): provider_imports(f) for f in (ROOT / "steps").rglob("*.py")}
    assert {f: m for f, m in offenders.items() if m} == {}


def test_no_provider_imports_another():
    providers = ROOT / "providers"
    packages = [d.name for d in providers.iterdir() if (d / "__init__.py").exists()]
    modules = [f.stem for f in providers.glob("*.py") if f.stem not in ("__init__", "base", "ssh", "inventory")]
    own = {name: (providers / name) for name in packages}
    offenders = {}
    for name, directory in own.items():
        others = [o for o in (*packages, *modules) if o != name]
        for f in directory.rglob("*.py"):
            bad = sorted(m for m in imported_modules(f) if any(m.startswith(f"provision.providers.{o}") for o in others))
            if bad:
                offenders[str(f.relative_to(ROOT))] = bad
    assert offenders == {}


def test_the_import_check_sees_a_lazy_import(tmp_path):
    """The failing side: an import inside a function counts."""
    f = tmp_path / "step.py"
    f.write_text("def apply(p):\n    from provision.providers.local import KUBE_CACHE\n    return KUBE_CACHE\n")
    assert provider_imports(f) == ["provision.providers.local", "provision.providers.local.KUBE_CACHE"]


class OnThisMachine(ContractOnly):
    """A provider whose one host is a directory of this machine: run and exec_argv are plain
    commands here, so the contract's generic write and upload run for real."""

    name = "here"

    def __init__(self, root: Path) -> None:
        super().__init__(PLAN)
        self.root = root
        self.streams: list[list[str]] = []

    def run(self, host, argv, *, timeout=60, input=None):
        res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input, cwd=self.root)
        return Result(res.returncode, res.stdout, res.stderr)

    def exec_argv(self, host, argv):
        self.streams.append(argv)
        return argv


@pytest.fixture
def here(tmp_path):
    (tmp_path / "host").mkdir()
    return OnThisMachine(tmp_path / "host")


def test_upload_copies_once_and_then_leaves_it(here, tmp_path):
    src = tmp_path / "kubelet"
    src.write_bytes(bytes(range(256)) * 4096)
    dest = str(tmp_path / "host/usr/bin/kubelet")
    assert here.upload("h", src, dest, "0755") is True
    assert Path(dest).read_bytes() == src.read_bytes()
    assert oct(Path(dest).stat().st_mode & 0o777) == "0o755"
    assert not Path(dest + ".part").exists()
    streams = len(here.streams)
    assert here.upload("h", src, dest, "0755") is False
    assert len(here.streams) == streams  # the checksum decided: nothing streamed


def test_an_interrupted_upload_goes_on_from_where_it_stopped(here, tmp_path):
    src = tmp_path / "image.tar"
    data = hashlib.sha256(b"x").digest() * 40000
    src.write_bytes(data)
    dest = tmp_path / "host/cache/image.tar"
    dest.parent.mkdir(parents=True)
    Path(f"{dest}.part").write_bytes(data[:500000])  # what an interrupted run left
    assert here.upload("h", src, str(dest)) is True
    assert dest.read_bytes() == data
    assert here.streams[-1][-1] == "500000"  # only the rest was sent


def test_a_part_that_does_not_verify_is_sent_again_whole(here, tmp_path):
    src = tmp_path / "image.tar"
    data = b"good" * 50000
    src.write_bytes(data)
    dest = tmp_path / "host/image.tar"
    Path(f"{dest}.part").write_bytes(b"BAD!" * 100)  # a corrupt leftover
    assert here.upload("h", src, str(dest)) is True
    assert dest.read_bytes() == data
    assert [s[-1] for s in here.streams] == ["400", "0"]


def test_an_upload_that_never_verifies_is_an_error(here, tmp_path, monkeypatch):
    src = tmp_path / "image.tar"
    src.write_bytes(b"data" * 1000)
    # a host whose disk changes what it is given
    monkeypatch.setattr(here, "exec_argv", lambda host, argv: ["sh", "-c", 'cat > /dev/null; echo 0000 > "$1.part"; echo 0000',
                                                               "-", *argv[4:]])
    with pytest.raises(ProviderError, match=r"does not match .* after two uploads"):
        here.upload("h", src, str(tmp_path / "host/image.tar"))


def test_generic_write_changes_only_what_differs(here, tmp_path):
    path = str(tmp_path / "host/etc/x.conf")
    assert here.write("h", path, "a=1\n", "0600") is True
    assert here.write("h", path, "a=1\n", "0600") is False
    assert here.write("h", path, "a=1\n", "0644") is True  # the mode counts
    assert here.write("h", path, b"\x00\x01", "0644") is True and Path(path).read_bytes() == b"\x00\x01"


def test_local_ssh_is_a_provider_of_its_own_that_shares_nothing():
    from provision import providers
    from provision.kube import binaries
    from provision.providers.local import KUBE_CACHE
    from provision.providers.local.over_ssh import LocalSshProvider

    p = providers.get("local-ssh", PLAN)
    assert isinstance(p, LocalSshProvider) and p.name == "local-ssh"
    kube = p.plan.masters[0]
    assert p.shared_path(kube.name, binaries.CACHE / "x") is None
    assert all(b.target != KUBE_CACHE for b in p.container(kube).binds)
    local = providers.get("local", PLAN)
    assert local.shared_path(kube.name, binaries.CACHE / "x") == f"{KUBE_CACHE}/x"
    assert local.shared_path(PLAN.gateway.name, binaries.CACHE / "x") is None  # no node, no bind


@pytest.fixture
def flaky_ssh(tmp_path, monkeypatch):
    """An `ssh` on PATH that fails as ssh itself does (255, nothing printed) the first time."""
    count = tmp_path / "count"
    tool_on_path(tmp_path, monkeypatch, "ssh", f"""#!/bin/sh
n=$(cat {count} 2>/dev/null || echo 0); echo $((n + 1)) > {count}
[ "$n" = 0 ] && {{ echo "mux_client_request_session: read from master failed: Broken pipe" >&2; exit 255; }}
echo "ran: $*"; exit "${{SSH_RC:-0}}"
""")
    return count


def test_ssh_runs_a_command_again_once_when_ssh_itself_failed(flaky_ssh, tmp_path):
    from provision.providers.ssh import Ssh

    res = Ssh(tmp_path / "config").run(PLAN.masters[0].name, ["true"])
    assert res.ok and "ran:" in res.stdout
    assert flaky_ssh.read_text().strip() == "2"


def test_a_command_that_exits_255_itself_is_not_run_again(flaky_ssh, tmp_path, monkeypatch):
    from provision.providers.ssh import Ssh

    flaky_ssh.write_text("1\n")  # the connection is fine; the command says 255 and printed
    monkeypatch.setenv("SSH_RC", "255")
    res = Ssh(tmp_path / "config").run(PLAN.masters[0].name, ["false"])
    assert res.rc == 255 and flaky_ssh.read_text().strip() == "2"


class _Answers(ContractOnly):
    """A provider whose hosts answer `ip addr` with one canned result."""

    def __init__(self, result: Result) -> None:
        super().__init__(PLAN)
        self.result = result

    def run(self, host, argv, *, timeout=60, input=None):
        return self.result


def test_an_address_that_cannot_be_read_is_an_error_naming_the_host():
    worker = PLAN.workers[0]
    nic = worker.lab_nic.ifname
    vip = f"3: {nic}    inet {PLAN.vip.address}/32 scope global {nic}\n"
    mine = f"3: {nic}    inet {PLAN.fixed_address(worker)}/24 brd x scope global {nic}\n"
    # control: the host's own address, the VIP beside it passed over
    assert _Answers(Result(0, vip + mine, "")).address(worker) == str(PLAN.fixed_address(worker))
    down = _Answers(Result(255, "", "ssh: connect to host port 22: Connection timed out"))
    with pytest.raises(ProviderError, match=rf"{worker.name}: its lab address could not be read .*Connection timed out"):
        down.address(worker)
    with pytest.raises(ProviderError, match=rf"{worker.name}: .*no IPv4 address on {nic}"):
        _Answers(Result(0, vip, "")).address(worker)
    # a lease still to come, or a status: no address is an answer
    assert down.address(worker, missing_ok=True) is None
    assert _Answers(Result(0, "", "")).address(worker, missing_ok=True) is None


class _Mended:
    """What Steps reads of a provider: what its steps mended by asking again."""

    def __init__(self) -> None:
        self.recoveries: list[str] = []

    def recovered(self, what: str) -> None:
        self.recoveries.append(what)


def test_what_a_step_mended_is_printed_under_it_also_when_it_stops(capsys):
    from provision.errors import StepError
    from provision.steps.converge import Steps

    p = _Mended()
    steps = Steps(p)
    worker, master = PLAN.workers[-1].name, PLAN.masters[0].name
    steps("addresses by DHCP", lambda: p.recovered(f"{worker}: DHCP asked 3 times, networkd restarted at ask 3"))
    steps("load balancer pair", lambda: None)

    def mended_then_stopped() -> None:
        p.recovered("kubectl apply flannel: sent 2 times, the API away (TLS handshake timeout)")
        raise ProviderError(f"{master}: kubeadm init failed (1)")

    with pytest.raises(StepError):
        steps("kubernetes: kubeadm init", mended_then_stopped)
    lines = capsys.readouterr().err.splitlines()
    # each under its own step's line, the one that stopped included; a clean step prints none
    dhcp = next(i for i, line in enumerate(lines) if f"{worker}: DHCP asked 3 times" in line)
    assert "addresses by DHCP" in lines[dhcp + 1] and "load balancer pair" in lines[dhcp + 2]
    assert "flannel: sent 2 times" in lines[dhcp + 3] and len(lines) == dhcp + 4


def test_a_step_that_stops_names_itself_the_host_and_the_way_on():
    from provision.errors import StepError
    from provision.steps.converge import Steps

    def init() -> None:
        raise ProviderError("kube-mast01: kubeadm init failed (1): timed out waiting for the condition")

    with pytest.raises(StepError) as caught:
        Steps(_Mended())("kubernetes: kubeadm init, joins through the VIP", init)
    text = str(caught.value)
    assert text.startswith("step 'kubernetes: kubeadm init, joins through the VIP' stopped after")
    assert "kube-mast01: kubeadm init failed" in text and "run `up` again" in text
    assert caught.value.exit_status == ProviderError.exit_status


class _SlowApi:
    """A first master whose kubectl fails ``failures`` times with ``words``, then succeeds."""

    def __init__(self, failures: int, words: str) -> None:
        self.plan = topology.load()
        self.failures, self.words, self.calls, self.recoveries, self.argvs = failures, words, 0, [], []

    def recovered(self, what):
        self.recoveries.append(what)

    def run(self, host, argv, *, timeout=60, input=None):
        self.calls += 1
        self.argvs.append(argv)
        if self.calls <= self.failures:
            return Result(1, "", self.words)
        return Result(0, "applied\n", "")

    def wait_for(self, what, check, timeout, interval=0.2):
        return until(check, 5, what, 0.01)


def test_kubectl_is_sent_again_while_the_api_is_away_and_stops_at_once_on_a_wrong_request():
    vip = topology.load().vip
    slow = _SlowApi(2, f'Get "https://{vip.address}:{vip.port}/openapi/v2?timeout=32s": net/http: TLS handshake timeout')
    assert kubectl_until(slow, "kubectl apply demo", "apply", "-f", "demo.yaml").stdout == "applied\n"
    assert slow.calls == 3
    assert slow.recoveries == ["kubectl apply demo: sent 3 times, the API away (TLS handshake timeout)"]
    schema = _SlowApi(1, 'error: error validating "flannel.yaml": error validating data: failed to download openapi: unknown;'
                         ' if you choose to ignore these errors, turn validation off with --validate=false')
    assert kubectl_until(schema, "kubectl apply flannel", "apply", "-f", "flannel.yaml").stdout == "applied\n"
    assert schema.calls == 2
    # the schema the API did not serve: sent again without kubectl's check, and said so
    assert "--validate=false" not in schema.argvs[0] and schema.argvs[1][-1] == "--validate=false"
    assert schema.recoveries == ["kubectl apply flannel: sent 2 times, the API away (failed to download openapi), "
                                 "without kubectl's schema check"]
    # the control: an API away for another reason keeps the check
    assert all("--validate=false" not in argv for argv in slow.argvs)
    unsynced = _SlowApi(1, 'Error from server (Forbidden): clusterroles.rbac.authorization.k8s.io "flannel" is forbidden: '
                           'User "kubernetes-admin" cannot get resource "clusterroles" ... RBAC: '
                           '[clusterrole.rbac.authorization.k8s.io "cluster-admin" not found, ...]')
    assert kubectl_until(unsynced, "kubectl apply flannel", "apply", "-f", "flannel.yaml").stdout == "applied\n"
    # the control: a user the API really refuses is not asked again
    refused = _SlowApi(1, 'Error from server (Forbidden): pods is forbidden: User "system:anonymous" cannot list resource "pods"')
    with pytest.raises(ProviderError, match="forbidden"):
        kubectl_until(refused, "kubectl get pods", "get", "pods")
    assert refused.calls == 1
    wrong = _SlowApi(1, 'error: error parsing demo.yaml: error converting YAML to JSON')
    with pytest.raises(ProviderError, match=r"kubectl apply demo failed .*error converting YAML"):
        kubectl_until(wrong, "kubectl apply demo", "apply", "-f", "demo.yaml")
    assert wrong.calls == 1 and wrong.recoveries == []
    # the control: a request answered at once mended nothing
    at_once = _SlowApi(0, "")
    kubectl_until(at_once, "kubectl apply demo", "apply", "-f", "demo.yaml")
    assert at_once.recoveries == []
    away = _SlowApi(10**6, f"dial tcp {vip.address}:{vip.port}: connect: connection refused")
    with pytest.raises(ProviderError, match=r"kubectl said last: .*connection refused") as caught:
        kubectl_until(away, "kubectl apply demo", "apply", "-f", "demo.yaml")
    # away for the whole bound: the error also asks the master and the load balancers
    assert f"{PLAN.masters[0].name} then:" in str(caught.value)
    assert all(f"{lb.name} load:" in str(caught.value) for lb in PLAN.loadbalancers)


def test_an_api_away_is_asked_directly_and_through_the_vip(tmp_path, monkeypatch):
    """API_PROBE run by sh here, kubectl a stub: the VIP's way fails, the direct way answers."""
    from provision.steps import cluster

    stub = tmp_path / "kubectl"
    stub.write_text("#!/bin/sh\n"
                    'case "$*" in *--server=https://127.0.0.1:*) echo "[+]ping ok"; echo "readyz check passed";;\n'
                    '  *) echo "Unable to connect to the server: net/http: TLS handshake timeout" >&2; exit 1;; esac\n')
    stub.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")

    class _Master:
        plan = PLAN

        def run(self, host, argv, *, timeout=60, input=None):
            if argv[:2] == ["sh", "-c"] and "readyz" in argv[2]:
                res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
                return Result(res.returncode, res.stdout, res.stderr)
            return Result(0, "0.50 0.40 0.30 1/99 123\n", "")

    text = cluster.api_diagnosis(_Master())
    vip = PLAN.vip
    direct = next(line for line in text.splitlines() if "via https://127.0.0.1:" in line)
    through = next(line for line in text.splitlines() if f"via https://{vip.address}:{vip.port}" in line)
    assert f":{PLAN.kubernetes.api_port}:" in direct and direct.endswith("readyz check passed") and "[+]" not in direct
    assert re.search(r": \d+ ms: Unable to connect .*TLS handshake timeout$", through)
    assert f"{PLAN.loadbalancers[0].name} load: 0.50 0.40 0.30" in text


class _DhcpClient:
    """Hosts whose first DISCOVER is lost (``lost``) until networkd is told to ask again, or
    forever (``never``); the others have their lease at once."""

    wait_scale = 1.0

    def __init__(self, lost: set[str], never: set[str] = frozenset()) -> None:
        self.plan = topology.load()
        self.lost, self.never, self.asked_again, self.recoveries = lost, never, [], []

    def address(self, host, missing_ok=False):
        if host.name in self.never or (host.name in self.lost and host.name not in self.asked_again):
            return None
        return str(self.plan.fixed_address(host))

    def run(self, host, argv, *, timeout=60, input=None):
        if argv[:2] == ["networkctl", "reconfigure"]:
            self.asked_again.append(host)
        return Result(0, f"{argv[0]} of {host} says\n", "")

    def changed(self, what):
        pass

    def recovered(self, what):
        self.recoveries.append(what)

    def wait_for(self, what, check, timeout, interval=0.2):
        return until(check, 1, what, 0.01)


def test_a_lost_discover_is_asked_again_and_a_host_without_lease_is_named(monkeypatch):
    from provision.steps import gateway

    plan = topology.load()
    host, gw = plan.workers[-1].name, plan.gateway.name
    monkeypatch.setattr(gateway, "REASK_S", 0.05)
    lossy = _DhcpClient({host})
    gateway.wait_for_leases(lossy)
    assert lossy.asked_again == [host]
    assert len(lossy.recoveries) == 1 and lossy.recoveries[0].startswith(f"{host}: DHCP asked 2 times; leased ")
    # a client that never gets an answer: the error names it, and says both sides' view
    mute = _DhcpClient(set(), never={host})
    with pytest.raises(ProviderError, match=rf"a DHCP lease on {host} \(its DHCP client asked \d+ times\)") as caught:
        gateway.wait_for_leases(mute)
    assert f"networkctl of {host} says" in str(caught.value) and f"journalctl of {gw} says" in str(caught.value)
    assert f"{host} `ip -4 -o addr show dev" in str(caught.value) and "(exit 0): ip of" in str(caught.value)


class _StuckNetworkd(_DhcpClient):
    """A host whose networkd logs each lease acquired and never sets the address until it is
    restarted (libvirt smoke run 13, a CI run of the ssh path)."""

    def __init__(self, host: str) -> None:
        super().__init__(set(), never={host})
        self.restarted, self.log_levels = [], []

    def run(self, host, argv, *, timeout=60, input=None):
        if argv == ["systemctl", "restart", "systemd-networkd"]:
            self.restarted.append(host)
            self.never.discard(host)
        if argv[:2] == ["systemctl", "service-log-level"]:
            self.log_levels.append(argv[-1])
        return super().run(host, argv, timeout=timeout, input=input)


def test_a_networkd_that_never_sets_its_leased_address_is_restarted(monkeypatch):
    from provision.steps import gateway

    host = PLAN.workers[-1]
    monkeypatch.setattr(gateway, "REASK_S", 0.02)
    stuck = _StuckNetworkd(host.name)
    assert gateway.wait_for_lease(stuck, host) == str(stuck.plan.fixed_address(host))
    # reconfigured first, as a lost DISCOVER is; restarted at the RESTART_AT-th ask, once
    assert stuck.asked_again == [host.name] * (gateway.RESTART_AT - 2) and stuck.restarted == [host.name]
    assert len(stuck.recoveries) == 1
    assert f"DHCP asked {gateway.RESTART_AT} times, networkd restarted at ask {gateway.RESTART_AT}" in stuck.recoveries[0]
    assert stuck.log_levels == ["debug", "info"]
    # the positive control: a host that only lost a DISCOVER is reconfigured, not restarted
    lossy = _StuckNetworkd(host.name)
    lossy.never.clear()
    lossy.lost = {host.name}
    assert gateway.wait_for_lease(lossy, host) == str(lossy.plan.fixed_address(host))
    assert lossy.asked_again == [host.name] and lossy.restarted == [] and lossy.log_levels == []
    assert "restarted" not in lossy.recoveries[0]


class _FirstMaster:
    """A first master whose `kubeadm init` exits ``rc``; the diagnosis script runs here, on
    pod logs under ``pods`` instead of kubelet's."""

    def __init__(self, rc: int, pods: Path) -> None:
        self.plan = topology.load()
        self.rc, self.pods, self.ran = rc, pods, []

    def run(self, host, argv, *, timeout=60, input=None):
        self.ran.append(argv[0])
        if argv[0] == "kubeadm":
            return Result(self.rc, "", "could not bootstrap the admin user: context deadline exceeded" if self.rc else "")
        if argv[:2] == ["sh", "-c"]:
            res = subprocess.run(["sh", "-c", argv[2].replace("/var/log/pods", str(self.pods))], capture_output=True, text=True)
            return Result(res.returncode, res.stdout, res.stderr)
        return Result(1 if argv[0] == "test" else 0, "", "")

    def write(self, host, path, content, mode=0o644):
        pass

    def changed(self, what):
        pass

    def hosts_are_containers(self):
        return True


def test_a_failed_kubeadm_init_says_what_the_control_plane_was_doing(tmp_path):
    from provision.steps import cluster

    etcd = tmp_path / f"kube-system_etcd-{PLAN.masters[0].name}_0a1b" / "etcd"
    etcd.mkdir(parents=True)
    (etcd / "0.log").write_text("2026-12-05T10:00:00Z stderr F apply request took too long\n")
    (etcd / "1.log").write_text("2026-12-05T10:01:00Z stderr F apply request took too long\n"
                                "2026-12-05T10:01:09Z stderr F slow fdatasync\n")
    failed = _FirstMaster(1, tmp_path)
    with pytest.raises(ProviderError) as caught:
        cluster.init(failed)
    text = str(caught.value)
    assert "kubeadm init failed (1): could not bootstrap the admin user" in text
    assert "etcd: 2 start(s), 2 lines 'took too long'" in text and "slow fdatasync" in text
    assert "kube-apiserver: never started" in text and "load: " in text
    # the positive control: an init that works asks the node nothing more
    fine = _FirstMaster(0, tmp_path)
    cluster.init(fine)
    assert "sh" not in fine.ran


class _SlowDhcpClient(_DhcpClient):
    """A slow VM: its lease shows ``exchange_s`` after networkd is told to ask, and every
    `networkctl reconfigure` drops the lease it was getting."""

    def __init__(self, host: str, exchange_s: float, wait_scale: float) -> None:
        super().__init__({host})
        self.exchange_s, self.wait_scale, self.asked_at = exchange_s, wait_scale, None

    def address(self, host, missing_ok=False):
        if host.name not in self.lost:
            return super().address(host, missing_ok)
        done = self.asked_at is not None and time.monotonic() - self.asked_at >= self.exchange_s
        return str(self.plan.fixed_address(host)) if done else None

    def run(self, host, argv, *, timeout=60, input=None):
        if argv[:2] == ["networkctl", "reconfigure"]:
            self.asked_at = time.monotonic()
        return super().run(host, argv, timeout=timeout, input=input)


def test_a_slow_host_is_not_asked_again_before_it_can_answer(monkeypatch):
    """Run 11 on VMs: asked again every 6 s, a host whose exchange took longer lost each lease
    it was getting. The wait between asks grows with the provider's slowness."""
    from provision.steps import gateway

    host = topology.load().masters[0]
    monkeypatch.setattr(gateway, "REASK_S", 0.05)
    # on hardware's pace a 0.15 s exchange is cut short by every ask: never leased
    with pytest.raises(ProviderError, match=rf"a DHCP lease on {host.name}"):
        gateway.wait_for_lease(_SlowDhcpClient(host.name, 0.15, wait_scale=1), host)
    # four times slower, asked four times less often: leased after one ask
    patient = _SlowDhcpClient(host.name, 0.15, wait_scale=4)
    assert gateway.wait_for_lease(patient, host) == str(patient.plan.fixed_address(host))
    assert len(patient.asked_again) == 1


class _Nodes:
    """An API that lists ``nodes`` as registered."""

    def __init__(self, nodes: set[str]) -> None:
        self.plan = topology.load()
        self.nodes = nodes

    def run(self, host, argv, *, timeout=60, input=None):
        items = [{"metadata": {"name": n}} for n in sorted(self.nodes)]
        return Result(0, json.dumps({"items": items}), "")

    def wait_for(self, what, check, timeout, interval=0.2):
        return until(check, 0.3, what, 0.01)


def test_a_node_that_never_registers_is_named(monkeypatch):
    """Libvirt smoke run 16 timed out waiting for every node registered, without saying which."""
    from provision.steps import cluster

    for step in ("init", "join"):
        monkeypatch.setattr(cluster, step, lambda *a, **k: None)
    monkeypatch.setattr(cluster, "ca_hash", lambda p: "sha256:0")
    everyone = {h.name for h in (*PLAN.masters, *PLAN.workers)}
    cluster.apply(_Nodes(everyone), secrets=None)
    late = PLAN.workers[-1].name
    with pytest.raises(ProviderError, match=rf"every node registered with the API.*; not registered: {late}$"):
        cluster.apply(_Nodes(everyone - {late}), secrets=None)


def test_a_rollout_that_runs_out_says_which_pods_held_it_and_why():
    from provision.steps import addons as addon_steps

    def pod(name, ready, conditions=(), containers=()):
        return {"metadata": {"name": name}, "status": {
            "phase": "Running" if ready else "Pending",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}, *conditions],
            "containerStatuses": list(containers)}}

    unschedulable = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                     "message": "0/2 nodes are available: 1 node(s) didn't match pod anti-affinity rules."}
    crashing = {"name": "controller", "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}
    pods = {"items": [pod("controller-a", True), pod("controller-b", False, [unschedulable]),
                      pod("controller-c", False, containers=[crashing])]}
    said = addon_steps.pods_not_ready(pods)
    # the Ready one is not named; each other one with its cause
    assert said == ["controller-b Pending: Unschedulable: 0/2 nodes are available: 1 node(s) didn't match pod anti-affinity rules.",
                    "controller-c Pending: controller CrashLoopBackOff: back-off 40s; controller ended last with 1 (Error)"]
    # the control: a rollout that is done holds nothing
    assert addon_steps.pods_not_ready({"items": [pod("controller-a", True)]}) == []


def test_the_rollout_waits_error_carries_the_pods_that_held_it():
    from provision.steps import addons as addon_steps

    pending = {"items": [{"metadata": {"name": "controller-b"}, "status": {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/2 nodes are available"}]}}]}

    class NeverRolledOut(_SlowApi):
        def run(self, host, argv, *, timeout=60, input=None):
            self.argvs.append(argv)
            if "rollout" in argv:
                return Result(1, "", "error: timed out waiting for the condition")
            return Result(0, json.dumps(pending), "")

        def wait_for(self, what, check, timeout, interval=0.2):
            return until(check, 0.05, what, 0.01)

    api = NeverRolledOut(0, "")
    with pytest.raises(ProviderError, match=r"(?s)timed out .* the MetalLB controller\ncontroller-b Pending: Unschedulable"):
        addon_steps.wait_rolled_out(api, "the MetalLB controller", "metallb-system", "controller", 180)
    assert any(argv[-4:] == ["get", "pods", "-o", "json"] and "metallb-system" in argv for argv in api.argvs)
