"""The conformance checks on outputs recorded from a running lab: the recorded (good)
output passes, and a broken variant of it fails with a line naming the promise."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from provision import checks, topology

DATA = Path(__file__).with_name("data")
PLAN = topology.load()
RECORDED_AT = float((DATA / "recorded-at").read_text())


def data(name: str) -> str:
    return (DATA / name).read_text()


def test_vip_placement():
    good = data("crm_mon.xml")
    assert checks.vip_placement(good, PLAN) == []
    # the VIP on both nodes at once: what a split brain looks like in crm_mon
    root = ET.fromstring(good)
    vip = next(r for r in root.iter("resource") if r.get("id") == PLAN.pacemaker.vip_resource)
    holder = vip.find("node").get("name")
    other = next(h.name for h in PLAN.loadbalancers if h.name != holder)
    ET.SubElement(vip, "node", name=other, id="9", cached="true")
    problems = checks.vip_placement(ET.tostring(root, encoding="unicode"), PLAN)
    assert len(problems) == 1 and problems[0].startswith("LB-03") and other in problems[0]


def test_corosync_settings_and_quorum():
    cmap, q = data("corosync-cmapctl.txt"), data("corosync-quorumtool.txt")
    members = [h.name for h in PLAN.loadbalancers]
    assert checks.corosync_settings(cmap, PLAN, "h") == []
    assert checks.quorum(q, members, "h") == []
    no_crypto = cmap.replace(f"totem.crypto_cipher (str) = {PLAN.corosync.crypto_cipher}", "totem.crypto_cipher (str) = none")
    assert ["LB-01: h: totem.crypto_cipher should be aes256, is none"] == checks.corosync_settings(no_crypto, PLAN, "h")
    assert checks.quorum(q.replace("Quorate:          Yes", "Quorate:          No"), members, "h") == ["LB-01: h: the cluster is not quorate"]


def test_etcd_cluster():
    good = data("etcd-endpoint-status.json")
    assert checks.etcd_cluster(good, 3) == []
    status = json.loads(good)
    status[1]["Status"]["leader"] = status[1]["Status"]["header"]["member_id"]
    if status[1]["Status"]["leader"] == status[0]["Status"]["leader"]:
        status[2]["Status"]["leader"] = status[2]["Status"]["header"]["member_id"]
    assert any("one leader" in p for p in checks.etcd_cluster(json.dumps(status), 3))
    assert any("3 members should answer, 2 did" in p for p in checks.etcd_cluster(json.dumps(status[:2]), 3))


def test_dnsmasq_leases():
    good = data("dnsmasq.leases")
    assert checks.dnsmasq_leases(good, PLAN, now=RECORDED_AT) == []
    worker = PLAN.workers[0].name
    missing = "\n".join(ln for ln in good.splitlines() if f" {worker} " not in ln)
    assert checks.dnsmasq_leases(missing, PLAN, now=RECORDED_AT) == [f"NET-04: no DHCP lease for {worker} on the gateway"]
    assert checks.dnsmasq_leases(good, PLAN, now=RECORDED_AT + 5 * 3600) == []  # before renewal: fine
    later = checks.dnsmasq_leases(good, PLAN, now=RECORDED_AT + 7 * 3600)  # past T1, not renewed
    assert later and all("lease should run 12h" in p for p in later)


def test_renewed_lease():
    worker = PLAN.workers[0].name
    client = data("networkd-lease.txt")
    assert checks.renewed_lease(PLAN, worker, expiry=RECORDED_AT + 43200, renewed_at=RECORDED_AT + 2, client_lease=client) == []
    # the gateway changed to 1h and restarted: the lease it grants now says so, on both sides
    short = checks.renewed_lease(PLAN, worker, expiry=RECORDED_AT + 3600, renewed_at=RECORDED_AT,
                                 client_lease=client.replace("LIFETIME=43200", "LIFETIME=3600"))
    assert len(short) == 2 and all(p.startswith("NET-04") and "12h" in p for p in short)
    assert "renewed" in short[0] and "3600 s" in short[0] and "client holds a lease of 3600 s" in short[1]


def test_haproxy_backend():
    good = data("haproxy-show-stat.csv")
    assert checks.haproxy_backend(good, PLAN) == []
    gone = PLAN.masters[2].name
    broken = "\n".join(ln for ln in good.splitlines() if f",{gone}," not in ln)
    problems = checks.haproxy_backend(broken, PLAN)
    assert len(problems) == 1 and problems[0].startswith("LB-04") and gone in problems[0]


def test_haproxy_backend_whose_masters_are_down():
    # recorded while no API server answered: every server listed, none UP
    problems = checks.haproxy_backend(data("haproxy-show-stat-all-down.csv"), PLAN)
    assert len(problems) == 1 and "should find every master UP" in problems[0]
    assert all(f"{m.name} DOWN" in problems[0] for m in PLAN.masters)
    # one master put in maintenance in the good recording
    rows = data("haproxy-show-stat.csv").splitlines()
    i = next(n for n, ln in enumerate(rows) if f",{PLAN.masters[1].name}," in ln)
    cols = rows[i].split(",")
    cols[17] = "MAINT"
    rows[i] = ",".join(cols)
    problems = checks.haproxy_backend("\n".join(rows), PLAN)
    assert problems == [f"LB-04: backend {PLAN.haproxy.backend}'s health check should find every master UP: {PLAN.masters[1].name} MAINT"]


def test_a_gluster_option_is_read_without_its_default_mark():
    table = ("Option                                   Value\n------                                   -----\n"
             "cluster.brick-multiplex                  disable (DEFAULT)\n")
    assert checks.gluster_option(table, "cluster.brick-multiplex") == "disable"
    assert checks.gluster_option(table, "network.ping-timeout") is None  # a line for another key only
    assert checks.gluster_option("volume get: failed: Volume gv9 does not exist\n", "network.ping-timeout") is None


def test_gluster_options_that_differ_from_the_plan_are_named():
    shown = {("all", "cluster.brick-multiplex"): "cluster.brick-multiplex  disable (DEFAULT)\n",
             (PLAN.gluster.volume, "network.ping-timeout"): f"network.ping-timeout  {PLAN.gluster.ping_timeout_s}\n"}

    def get(volume: str, key: str) -> str:
        return shown[(volume, key)]

    assert checks.gluster_options_differ(get, "all", {"cluster.brick-multiplex": "disable"}) == []
    assert checks.gluster_options_differ(get, PLAN.gluster.volume, {"network.ping-timeout": "42"}) == [
        f"{PLAN.gluster.volume} network.ping-timeout is {PLAN.gluster.ping_timeout_s}, the plan says 42"]


@pytest.mark.parametrize(
    "edit, expect",
    [
        (lambda s: s.replace("Type: Replicate", "Type: Distribute"), "should be of type Replicate"),
        (lambda s: s.replace("Status: Started", "Status: Stopped"), "should be started"),
        (lambda s: s.replace("1 x 3 = 3", "1 x 2 = 2"), "1 x 3 bricks"),
    ],
)
def test_gluster_volume(edit, expect):
    good = data("gluster-volume-info.txt")
    assert checks.gluster_volume(good, PLAN) == []
    problems = checks.gluster_volume(edit(good), PLAN)
    assert len(problems) == 1 and problems[0].startswith("STO-04") and expect in problems[0]


def test_nslookup_answer_not_the_server_line():
    name, api = "kubernetes.default.svc.cluster.local", "10.96.0.1"
    assert checks.resolves_to(data("nslookup-kubernetes.txt"), name, api, "K8S-07") == []
    # NXDOMAIN: the "Server: 10.96.0.10" line contains "10.96.0.1" as a string, and must not count
    nx = data("nslookup-nxdomain.txt")
    assert api in nx
    problems = checks.resolves_to(nx, name, api, "K8S-07")
    assert len(problems) == 1 and "resolved to nothing" in problems[0]
    wrong = data("nslookup-kubernetes.txt").replace("Address: 10.96.0.1\n", "Address: 10.96.0.99\n")
    assert "resolved to ['10.96.0.99']" in checks.resolves_to(wrong, name, api, "K8S-07")[0]


# curl against etcd without a client certificate, as recorded from the admin host
ALERT = "curl: (35) OpenSSL/3.0.22: error:0A000410:SSL routines::sslv3 alert handshake failure"
REFUSED = "curl: (7) Failed to connect to 192.168.1.11 port 2399 after 0 ms: Couldn't connect to server"
HUNG_UP = "curl: (55) getpeername() failed with errno 107: Transport endpoint is not connected"


def test_tls_refusal_is_told_from_an_unreachable_port():
    assert checks.tls_refusal(35, ALERT) == ""
    assert "could not be reached" in checks.tls_refusal(7, REFUSED)  # merely closed: no proof of a refusal
    assert "could not be reached" in checks.tls_refusal(28, "curl: (28) Connection timed out after 5001 milliseconds")
    assert "answered a client without a certificate" in checks.tls_refusal(0, "")
    assert "without a TLS refusal" in checks.tls_refusal(55, HUNG_UP)


def test_haproxy_servers_and_the_vip_holders_address():
    backend = PLAN.haproxy.backend
    assert checks.haproxy_servers(data("haproxy-show-stat.csv"), backend) == {m.name: "UP" for m in PLAN.masters}
    assert set(checks.haproxy_servers(data("haproxy-show-stat-all-down.csv"), backend).values()) == {"DOWN"}
    assert checks.haproxy_servers("", backend) == {}
    held = "3: enp0s8    inet 192.168.4.11/24 brd 192.168.4.255 scope global enp0s8\n3: enp0s8    inet 192.168.4.20/32 scope global enp0s8"
    assert checks.holds_address(held, "192.168.4.20")
    assert not checks.holds_address(held.splitlines()[0], "192.168.4.20")
    assert not checks.holds_address("inet 192.168.4.201/24", "192.168.4.20")  # a longer address is not the VIP
