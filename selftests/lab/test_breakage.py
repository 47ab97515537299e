"""The conformance suite catches breakage: break the running lab in one way, run `verify`,
and only tests of the promise that was broken may fail (and at least one must), or of the
promises built on it, which each breakage names; then restore the lab. Needs a running
local lab (tox -e provision)."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from provision.facts import etcd_healthy, has_kubernetes, kubernetes_settled, lb_pair_clean, vip_holder
from provision.secrets import Secrets
from provision.topology import WAN
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


#: Everything the suite asks of the API through the VIP and HAProxy. With stacked etcd each
#: API server talks to its own member only, so a broken member fails one API server in three.
THROUGH_THE_API = ("K8S-02", "K8S-03", "K8S-04", "K8S-05", "K8S-06", "K8S-07", "K8S-09", "K8S-10", "K8S-11",
                   "MLB-01", "MLB-02", "MLB-03", "MLB-04", "SEC-02", "SEC-06")
#: What crosses a node's forwarding: pods talking off their node, services, LoadBalancer IPs.
POD_NETWORK = ("K8S-06", "K8S-07", "K8S-09", "K8S-10", "MLB-04")


def breakages() -> list[Breakage]:
    gw = PLAN.gateway.name
    wan = next(n.ifname for n in PLAN.gateway.nics if n.network == WAN)
    vip = f"{PLAN.vip.address}/32"
    last_master = PLAN.masters[-1].name
    worker = PLAN.workers[-1].name
    volume = PLAN.gluster.volume
    first_glus = PLAN.glusters[0].name
    state: dict[str, str] = {}

    def holder() -> str:
        state["holder"] = state.get("holder") or vip_holder(LAB)
        return state["holder"]

    def edit_haproxy(sed: str) -> Callable[[], None]:
        return lambda: sh(holder(), f"sed -i '{sed}' /etc/haproxy/haproxy.cfg && systemctl reload haproxy")

    def put_haproxy_back() -> None:
        restore_file(holder(), "/etc/haproxy/haproxy.cfg")
        sh(holder(), "systemctl reload haproxy")

    return [
        Breakage("NET-06", "dnsmasq forwards single-label names (domain-needed removed)",
                 lambda: sh(gw, "sed -i '/^domain-needed$/d' /etc/dnsmasq.d/dns && systemctl restart dnsmasq"),
                 lambda: (restore_file(gw, "/etc/dnsmasq.d/dns"), sh(gw, "systemctl restart dnsmasq"))),
        Breakage("NET-05", "no NAT on the gateway",
                 lambda: sh(gw, f"iptables -t nat -D POSTROUTING -o {wan} -j MASQUERADE"),
                 lambda: sh(gw, f"iptables -t nat -A POSTROUTING -o {wan} -j MASQUERADE"),
                 affects=("K8S-10",)),  # pods reach the outside through the same NAT
        Breakage("LB-03", "the VIP on both load balancers",
                 lambda: sh(other_lb(), f"ip addr add {vip} dev {PLAN.loadbalancers[0].lab_nic.ifname}"),
                 lambda: [LAB.run(h.name, ["ip", "addr", "del", vip, "dev", h.lab_nic.ifname]) for h in PLAN.loadbalancers
                          if h.name != vip_holder_by_crm()],
                 affects=THROUGH_THE_API),  # the API is reached through this VIP
        Breakage("LB-04", "a master removed from the haproxy backend",
                 edit_haproxy(f"/server {last_master} /d"), put_haproxy_back,
                 affects=THROUGH_THE_API),  # and through this HAProxy, reloaded twice
        Breakage("SEC-01", "haproxy stats with the documents' admin:admin",
                 edit_haproxy("s/stats auth .*/stats auth admin:admin/"), put_haproxy_back),
        # Frozen, not stopped: kubelet would restart a static pod, and one whose manifest
        # comes back with the same content (the same pod UID) can stay down for minutes.
        Breakage("ETCD-01", "one etcd member frozen (SIGSTOP)",
                 lambda: (sh(last_master, "kill -STOP $(pgrep -x etcd)"),
                          LAB.wait_for("the member unhealthy", lambda: not etcd_healthy(LAB, PLAN.masters[0].name), 60)),
                 lambda: (sh(last_master, "kill -CONT $(pgrep -x etcd)"),
                          LAB.wait_for("etcd healthy", lambda: etcd_healthy(LAB, PLAN.masters[0].name), 60)),
                 affects=THROUGH_THE_API),
        Breakage("STO-04", "the Gluster volume stopped",
                 lambda: sh(first_glus, f"gluster --mode=script volume stop {volume}"),
                 lambda: sh(first_glus, f"gluster --mode=script volume start {volume}")),
        Breakage("K8S-01", "forwarding off on a worker",
                 lambda: sh(worker, "sysctl -q -w net.ipv4.ip_forward=0"),
                 lambda: sh(worker, "sysctl -q -w net.ipv4.ip_forward=1"),
                 affects=POD_NETWORK),
    ]


def vip_holder_by_crm() -> str:
    out = LAB.run(PLAN.loadbalancers[0].name, ["crm_resource", "--locate", "--resource", PLAN.pacemaker.vip_resource]).stdout
    return next(h.name for h in PLAN.loadbalancers if h.name in out)


def verify(tmp: Path) -> dict[str, set[str]]:
    """Run the conformance suite; return {failed test: its promises}."""
    junit = tmp / "junit.xml"
    subprocess.run([sys.executable, "-m", "pytest", "tests", "-q", "-n", "2", "-p", "no:cacheprovider", "-o", "addopts=",
                    f"--junitxml={junit}", "--provider", "local"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    failed = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            props = {p.get("name"): p.get("value") for p in case.iter("property")}
            failed[f"{case.get('classname')}.{case.get('name')}"] = set(props.get("promises", "").split(","))
    return failed


def test_the_lab_is_whole_before(tmp_path):
    assert lb_pair_clean(LAB) and etcd_healthy(LAB, PLAN.masters[0].name)
    assert verify(tmp_path) == {}, "verify must pass before the lab is broken"


@pytest.mark.parametrize("breakage", breakages(), ids=lambda b: b.promise)
def test_verify_fails_exactly_the_broken_promise(breakage: Breakage, tmp_path):
    breakage.do()
    try:
        failed = verify(tmp_path)
    finally:
        breakage.undo()
        # Restored means whole again, Kubernetes included (an API server back on its etcd
        # member, pods ready), before the next breakage is judged.
        if has_kubernetes(LAB):
            kubernetes_settled(LAB, 240)
    assert failed, f"breaking {breakage.promise} ({breakage.what}) was not caught"
    allowed = {breakage.promise, *breakage.affects}
    assert any(breakage.promise in p for p in failed.values()), f"breaking {breakage.promise} failed only {failed}"
    strays = {t: p for t, p in failed.items() if not p & allowed}
    assert not strays, f"breaking {breakage.promise} ({breakage.what}) also failed {strays}"


def test_the_lab_is_whole_after(tmp_path):
    LAB.wait_for("a clean load-balancer pair", lambda: lb_pair_clean(LAB), 60)
    assert verify(tmp_path) == {}, "the lab was not restored"
