"""The conformance suite catches breakage: break the running lab in one way, run `verify`,
and only tests of the promise that was broken may fail (and at least one must), or of the
promises built on it, which each breakage names; then restore the lab. Needs a running
local lab (tox -e provision)."""

from __future__ import annotations

import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from provision import checks
from provision.facts import DNSMASQ_LEASES, backend_states, etcd_healthy, has_kubernetes, kubernetes_settled, kubernetes_shape, lb_pair_clean, vip_holder
from provision.kubeclient import ADMIN_CONF
from provision.roles.gateway import NAT_UNIT
from provision.roles.gluster import SERVICE_CONFIG, SERVICE_UNIT
from provision.secrets import Secrets
from provision.steps.gluster import volume_service_answers
from selftests.lab.running import running_local_lab

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.lab

LAB = running_local_lab()
PLAN = LAB.plan


def sh(host: str, script: str) -> None:
    res = LAB.run(host, ["sh", "-c", script], timeout=120)
    assert res.ok, f"{host}: {script}: {res.stderr or res.stdout}"


def other_lb() -> str:
    holder = vip_holder(LAB)
    return next(h.name for h in PLAN.loadbalancers if h.name != holder)


def restore_file(host: str, path: str) -> None:
    """Put back the file the role writes (the provisioner's own copy is the truth)."""
    secrets = Secrets.load_or_create(LAB.state / "secrets")
    from provision.roles import files_for

    f = next(f for f in files_for(PLAN, PLAN.host(host), secrets) if f.path == path)
    LAB.container(host).write(f.path, f.content, f.mode)


@dataclass
class Breakage:
    promise: str
    what: str
    do: Callable[[], None]
    undo: Callable[[], None]
    #: Promises that stand on the broken one and may fail with it (never required to).
    affects: tuple[str, ...] = ()
    #: Whether the restore waits for Kubernetes to settle (25 s at least): not for breakages
    #: of the hosts' own services that no Kubernetes component uses.
    settle: bool = True
    #: Run by the nightly env only (`tox -e nightly`), not in CI's labcheck: each breakage
    #: costs a whole `verify`, and CI keeps one or more of every family of promises.
    nightly: bool = False


#: Everything the suite asks of the API through the VIP and HAProxy. With stacked etcd each
#: API server talks to its own member only, so a broken member fails one API server in three.
THROUGH_THE_API = ("K8S-02", "K8S-03", "K8S-04", "K8S-05", "K8S-06", "K8S-07", "K8S-09", "K8S-10", "K8S-11",
                   "MLB-01", "MLB-02", "MLB-03", "MLB-04", "SEC-02", "SEC-06")
#: What crosses a node's forwarding: pods talking off their node, services, LoadBalancer IPs.
POD_NETWORK = ("K8S-06", "K8S-07", "K8S-09", "K8S-10", "MLB-04")


def breakages() -> list[Breakage]:
    gw = PLAN.gateway.name
    wan = PLAN.gateway.wan_nic.ifname
    vip = f"{PLAN.vip.address}/32"
    last_master = PLAN.masters[-1].name
    worker = PLAN.workers[-1].name
    volume = PLAN.gluster.volume
    first_glus = PLAN.glusters[0].name
    first_master = PLAN.masters[0].name
    api_port = PLAN.kubernetes.api_port
    state: dict[str, str] = {}

    def holder() -> str:
        state["holder"] = state.get("holder") or vip_holder(LAB)
        return state["holder"]

    def edit_haproxy(sed: str) -> Callable[[], None]:
        return lambda: sh(holder(), f"sed -i '{sed}' /etc/haproxy/haproxy.cfg && systemctl reload haproxy")

    def put_haproxy_back() -> None:
        restore_file(holder(), "/etc/haproxy/haproxy.cfg")
        sh(holder(), "systemctl reload haproxy")

    def masters_down_behind_haproxy() -> None:
        # every server's health check aimed at a port nobody listens on: listed, never UP
        edit_haproxy(f"s/:{api_port} check/:{api_port + 1} check/")()
        LAB.wait_for("every master DOWN in haproxy", lambda: all(backend_states(LAB).get(m.name) == "DOWN" for m in PLAN.masters),
                     60, interval=1)

    def masters_back_behind_haproxy() -> None:
        put_haproxy_back()
        LAB.wait_for("every master UP in haproxy", lambda: all(backend_states(LAB).get(m.name) == "UP" for m in PLAN.masters),
                     60, interval=1)

    def coredns_zone(old: str, new: str) -> Callable[[], None]:
        # the Corefile's kubernetes zone edited, then new CoreDNS pods that serve it
        kubectl = f"KUBECONFIG={ADMIN_CONF} kubectl -n kube-system"
        return lambda: sh(first_master, f"{kubectl} get cm coredns -o json | sed 's/kubernetes {old} /kubernetes {new} /' | {kubectl} replace -f - "
                                        f"&& {kubectl} rollout restart deployment/coredns && {kubectl} rollout status deployment/coredns --timeout=180s")

    kubectl = f"KUBECONFIG={ADMIN_CONF} kubectl"

    def k8s(script: str) -> Callable[[], None]:
        return lambda: sh(first_master, script.format(kubectl=kubectl))

    def scale(namespace: str, deployment: str, replicas: int) -> Callable[[], None]:
        return lambda: sh(first_master, f"{kubectl} -n {namespace} scale deployment/{deployment} --replicas={replicas} "
                                        f"&& {kubectl} -n {namespace} rollout status deployment/{deployment} --timeout=180s")

    lbs = [h.name for h in PLAN.loadbalancers]
    p = PLAN.pacemaker
    corosync_conf = "/etc/corosync/corosync.conf"
    authkey = "/etc/corosync/authkey"

    def corosync_token(ms: int) -> None:
        for lb in lbs:
            sh(lb, f"sed -i 's/^\\(\\s*token:\\).*/\\1 {ms}/' {corosync_conf}")
        sh(lbs[0], "corosync-cfgtool -R")

    def corosync_back() -> None:
        for lb in lbs:
            restore_file(lb, corosync_conf)
        sh(lbs[0], "corosync-cfgtool -R")
        LAB.wait_for("a clean load-balancer pair", lambda: lb_pair_clean(LAB), 60)

    def put_authkey_back() -> None:
        restore_file(lbs[-1], authkey)
        sh(lbs[-1], f"chmod 0400 {authkey} && chown root:root {authkey}")

    def pool_end(end: str) -> None:
        patch = f'{{"spec":{{"addresses":["{PLAN.metallb.start}-{end}"]}}}}'
        sh(first_master, f"{kubectl} -n metallb-system patch ipaddresspools.metallb.io {PLAN.metallb.pool} --type merge -p '{patch}'")

    def lease_time(lease: str) -> Callable[[], None]:
        return lambda: sh(gw, f"sed -i 's/,{PLAN.networks[PLAN.gateway.network].dhcp.lease}$/,{lease}/' /etc/dnsmasq.d/dhcp && systemctl restart dnsmasq")

    def leases_back() -> None:
        # the plan's lease time served again, and every client's lease renewed under it (the
        # suite renewed some under the broken one)
        restore_file(gw, "/etc/dnsmasq.d/dhcp")
        sh(gw, "systemctl restart dnsmasq")
        clients = [h for h in PLAN.hosts if h.role not in ("gateway", "loadbalancer")]
        for h in clients:
            sh(h.name, f"networkctl renew {h.lab_nic.ifname}")

        def all_renewed() -> bool:
            table = checks.parse_leases(LAB.run(gw, ["cat", DNSMASQ_LEASES]).stdout)
            now = time.time()
            return all(checks.lease_seconds(PLAN.networks[h.network].dhcp.lease) - 120 < table.get(h.name, (0, ""))[0] - now
                       for h in clients)

        LAB.wait_for("every client's lease renewed for the plan's time", all_renewed, 60, interval=1)

    def volume_key(key: str | None) -> Callable[[], None]:
        """Set the first Gluster node's volume service key (None: the role's), restart it."""
        def do() -> None:
            if key is None:
                restore_file(first_glus, SERVICE_CONFIG)
            else:
                sh(first_glus, f"sed -i 's/\"key\": \".*\"/\"key\": \"{key}\"/' {SERVICE_CONFIG}")
            sh(first_glus, f"systemctl restart {SERVICE_UNIT}")
            LAB.wait_for("the volume service answering", lambda: volume_service_answers(LAB, PLAN.glusters[0]), 30)
        return do

    return [
        Breakage("NET-06", "dnsmasq forwards single-label names (domain-needed removed)",
                 lambda: sh(gw, "sed -i '/^domain-needed$/d' /etc/dnsmasq.d/dns && systemctl restart dnsmasq"),
                 lambda: (restore_file(gw, "/etc/dnsmasq.d/dns"), sh(gw, "systemctl restart dnsmasq")), settle=False, nightly=True),
        Breakage("NET-05", "no NAT on the gateway",
                 lambda: sh(gw, f"iptables -t nat -D POSTROUTING -o {wan} -j MASQUERADE"),
                 lambda: sh(gw, f"iptables -t nat -A POSTROUTING -o {wan} -j MASQUERADE"),
                 affects=("K8S-10",)),  # pods reach the outside through the same NAT
        Breakage("NET-05", "the gateway's rules not loaded at boot (its unit disabled; loaded now, so only a restart shows it)",
                 lambda: sh(gw, f"systemctl disable {NAT_UNIT}"), lambda: sh(gw, f"systemctl enable {NAT_UNIT}"), settle=False, nightly=True),
        Breakage("LB-03", "the VIP on both load balancers",
                 lambda: sh(other_lb(), f"ip addr add {vip} dev {PLAN.loadbalancers[0].lab_nic.ifname}"),
                 lambda: [LAB.run(h.name, ["ip", "addr", "del", vip, "dev", h.lab_nic.ifname]) for h in PLAN.loadbalancers
                          if h.name != vip_holder_by_crm()],
                 affects=THROUGH_THE_API),  # the API is reached through this VIP
        Breakage("LB-04", "a master removed from the haproxy backend",
                 edit_haproxy(f"/server {last_master} /d"), put_haproxy_back,
                 affects=THROUGH_THE_API, nightly=True),  # and through this HAProxy, reloaded twice
        Breakage("SEC-01", "haproxy stats with the documents' admin:admin",
                 edit_haproxy("s/stats auth .*/stats auth admin:admin/"), put_haproxy_back, nightly=True),
        Breakage("SEC-03", "the volume service's key on one node set to the documents' admin:admin",
                 volume_key("admin"), volume_key(None),
                 # that node asks the others for their devices with the key it has, and claims
                 # made through it fail (the CSI driver's failing side)
                 affects=("STO-02", "STO-04", "STO-05", "STO-07", "STO-09"), settle=False),
        # Frozen, not stopped: kubelet would restart a static pod, and one whose manifest
        # comes back with the same content (the same pod UID) can stay down for minutes.
        Breakage("ETCD-01", "one etcd member frozen (SIGSTOP)",
                 lambda: (sh(last_master, "kill -STOP $(pgrep -x etcd)"),
                          LAB.wait_for("the member unhealthy", lambda: not etcd_healthy(LAB, PLAN.masters[0].name), 60)),
                 lambda: (sh(last_master, "kill -CONT $(pgrep -x etcd)"),
                          LAB.wait_for("etcd healthy", lambda: etcd_healthy(LAB, PLAN.masters[0].name), 60)),
                 # and SEC-05: a frozen member answers no one, so its refusals cannot be shown
                 affects=(*THROUGH_THE_API, "SEC-05")),
        Breakage("STO-04", "the Gluster volume stopped",
                 lambda: sh(first_glus, f"gluster --mode=script volume stop {volume}"),
                 lambda: sh(first_glus, f"gluster --mode=script volume start {volume}")),
        Breakage("K8S-01", "forwarding off on a worker",
                 lambda: sh(worker, "sysctl -q -w net.ipv4.ip_forward=0"),
                 lambda: sh(worker, "sysctl -q -w net.ipv4.ip_forward=1"),
                 affects=POD_NETWORK, nightly=True),
        # The quiet ones: nothing stopped, every name still listed, the daemons healthy.
        Breakage("NET-04", "the gateway's lease time changed to 1h (dnsmasq restarted; the leases held still say 12h)",
                 lease_time("1h"), leases_back, settle=False, nightly=True),
        Breakage("LB-04", "every master DOWN behind haproxy (health checks on the wrong port; every server still listed)",
                 masters_down_behind_haproxy, masters_back_behind_haproxy,
                 # no API server at all: ETCD-01's members as the API sees them too
                 affects=(*THROUGH_THE_API, "ETCD-01"), nightly=True),
        Breakage("K8S-07", "CoreDNS no longer answers for the cluster domain (its kubernetes zone renamed)",
                 coredns_zone(PLAN.kubernetes.cluster_domain, "cluster.invalid"), coredns_zone("cluster.invalid", PLAN.kubernetes.cluster_domain)),
        Breakage("K8S-07", "CoreDNS scaled to one replica (it still answers)",
                 scale("kube-system", "coredns", 1), scale("kube-system", "coredns", PLAN.kubernetes.coredns_replicas), nightly=True),
        Breakage("LB-01", "corosync's token raised to 5 s on both nodes and reloaded (the pair stays quorate)",
                 lambda: corosync_token(PLAN.corosync.token + 2000), corosync_back, settle=False, nightly=True),
        Breakage("LB-02", "resource stickiness 0 (the VIP would move back to a returning node)",
                 lambda: sh(lbs[0], "crm_attribute --type rsc_defaults --name resource-stickiness --update 0"),
                 lambda: sh(lbs[0], f"crm_attribute --type rsc_defaults --name resource-stickiness --update {p.resource_stickiness}"),
                 settle=False, nightly=True),
        Breakage("SEC-04", "one node's corosync authkey replaced (the running ring keeps the old key)",
                 lambda: sh(lbs[-1], f"head -c 256 /dev/urandom > {authkey} && chmod 0400 {authkey}"), put_authkey_back, settle=False, nightly=True),
        Breakage("LB-05", "haproxy stats moved off its port",
                 edit_haproxy(f"s/bind \\*:{PLAN.haproxy.stats_port}$/bind *:{PLAN.haproxy.stats_port + 1}/"), put_haproxy_back,
                 affects=("SEC-01",), nightly=True),  # its authentication is checked on that port
        Breakage("SEC-02", "the default service account bound to cluster-admin",
                 k8s("{kubectl} create clusterrolebinding underhood-breakage-admin --clusterrole=cluster-admin --serviceaccount=default:default"),
                 k8s("{kubectl} delete clusterrolebinding underhood-breakage-admin"), nightly=True),
        Breakage("SEC-06", "anonymous requests allowed to read (view bound to system:anonymous)",
                 k8s("{kubectl} create clusterrolebinding underhood-breakage-anonymous --clusterrole=view --user=system:anonymous"),
                 k8s("{kubectl} delete clusterrolebinding underhood-breakage-anonymous"), nightly=True),
        Breakage("MLB-01", "MetalLB's controller scaled to one replica",
                 scale("metallb-system", "controller", 1), scale("metallb-system", "controller", PLAN.metallb.controller_replicas), nightly=True),
        Breakage("MLB-02", "the address pool shrunk by one address (the demo keeps its own)",
                 lambda: pool_end(str(PLAN.metallb.end - 1)), lambda: pool_end(str(PLAN.metallb.end))),
    ]


def vip_holder_by_crm() -> str:
    out = LAB.run(PLAN.loadbalancers[0].name, ["crm_resource", "--locate", "--resource", PLAN.pacemaker.vip_resource]).stdout
    return next(h.name for h in PLAN.loadbalancers if h.name in out)


@dataclass(frozen=True)
class Failed:
    """A test of the conformance suite that failed: its promises, and what it said."""
    promises: frozenset[str]
    message: str

    def __repr__(self) -> str:  # shown in an assertion: the promises and the first line said
        return f"{sorted(self.promises)}: {self.message.splitlines()[0] if self.message else 'no message'}"


#: The tests that make and remove Gluster volumes (the claims', and the volume service's own;
#: a minute of a run): run with the breakages of storage, and before and after them all, not
#: with every one.
CLAIMS = "tests/test_claims.py"
VOLUME_MAKING = "tests/test_gluster.py::test_a_volume_per_claim_is_replicated_on_three_nodes_grows_and_goes_with_its_bricks"
_path, _name = VOLUME_MAKING.split("::")
assert f"def {_name}(" in (ROOT / _path).read_text(), f"{VOLUME_MAKING} is gone: name the test that makes volumes"


def touches_storage(b: Breakage) -> bool:
    return any(pid.startswith("STO-") or pid == "SEC-03" for pid in (b.promise, *b.affects))


def verify(tmp: Path, claims: bool = True) -> dict[str, Failed]:
    """Run the conformance suite; return {failed test: its promises and message}."""
    junit = tmp / "junit.xml"
    subprocess.run([sys.executable, "-m", "pytest", "tests", "-q", "-n", "2", "-p", "no:cacheprovider", "-o", "addopts=",
                    *([] if claims else [f"--ignore={CLAIMS}", f"--deselect={VOLUME_MAKING}"]),
                    f"--junitxml={junit}", "--provider", "local", f"--reports-dir={tmp / 'reports'}"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    failed = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        outcome = case.find("failure")
        outcome = outcome if outcome is not None else case.find("error")
        if outcome is not None:
            props = {p.get("name"): p.get("value") for p in case.iter("property")}
            failed[f"{case.get('classname')}.{case.get('name')}"] = Failed(
                frozenset(props.get("promises", "").split(",")), outcome.get("message") or "")
    return failed


def test_the_lab_is_whole_before(tmp_path):
    assert lb_pair_clean(LAB) and etcd_healthy(LAB, PLAN.masters[0].name)
    assert verify(tmp_path) == {}, "verify must pass before the lab is broken"


def ids(found: list[Breakage]) -> list[str]:
    """The promise, numbered where several breakages break the same one (LB-04, LB-04b)."""
    out = []
    for i, b in enumerate(found):
        n = sum(1 for x in found[:i] if x.promise == b.promise)
        out.append(b.promise + ("" if n == 0 else "bcdefgh"[n - 1]))
    return out


BREAKAGES = breakages()


@pytest.mark.parametrize("breakage", [pytest.param(b, id=i, marks=[pytest.mark.nightly] if b.nightly else [])
                                       for b, i in zip(BREAKAGES, ids(BREAKAGES), strict=True)])
def test_verify_fails_exactly_the_broken_promise(breakage: Breakage, tmp_path):
    before = kubernetes_shape(LAB) if breakage.settle and has_kubernetes(LAB) else None
    breakage.do()
    try:
        failed = verify(tmp_path, claims=touches_storage(breakage))
    finally:
        breakage.undo()
        # Restored means whole again, Kubernetes included (an API server back on its etcd
        # member, pods ready), before the next breakage is judged.
        if breakage.settle and has_kubernetes(LAB):
            kubernetes_settled(LAB, 240, unchanged_since=before)
    assert failed, f"breaking {breakage.promise} ({breakage.what}) was not caught"
    allowed = {breakage.promise, *breakage.affects}
    assert any(breakage.promise in f.promises for f in failed.values()), f"breaking {breakage.promise} failed only {failed}"
    strays = {t: f for t, f in failed.items() if not f.promises & allowed}
    assert not strays, f"breaking {breakage.promise} ({breakage.what}) also failed {strays}"


def test_the_lab_is_whole_after(tmp_path):
    LAB.wait_for("a clean load-balancer pair", lambda: lb_pair_clean(LAB), 60)
    assert verify(tmp_path) == {}, "the lab was not restored"
