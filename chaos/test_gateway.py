"""NET-05 and NET-06 across a restart of the gateway: routing between the subnets, the NAT
out of its uplink and DNS come back with it by themselves (its rules are loaded at boot, by
the gateway's own unit, not by the provisioner)."""

from __future__ import annotations

import pytest

from chaos.conftest import record, restore
from chaos.timeline import REPORTS
from provision.probe import Probe, lifetime
from provision.pytest_plugin import admin_host, needs

#: glusterd: a service in another subnet than the admin host's, up on every full plan.
GLUSTERD_PORT = 24007


def nat_seen(lab, client: str) -> str | None:
    """The source address the outside service saw from ``client``; None if unreachable."""
    target = lab.outside_target()
    res = lab.run(client, ["sh", "-c", f"nc -w 2 {target.address} {target.port}"], timeout=10)
    return (res.stdout.strip() or None) if res.ok else None


@pytest.mark.promise("NET-05", "NET-06")
def test_routing_nat_and_dns_come_back_with_a_restarted_gateway(lab, limits, timeline, budget):
    needs(lab, "power", "node faults need power commands (power: in the inventory)")
    plan = lab.plan
    if lab.outside_target() is None:
        pytest.skip(f"the {lab.name} provider names no outside service: NAT cannot be seen from the outside")
    if not plan.glusters:
        pytest.skip("this plan has no Gluster node: no service in another subnet to probe")
    gw = plan.gateway.name
    admin = admin_host(plan).name
    other = plan.glusters[0]
    assert other.network != plan.host(admin).network, "the probe must cross the gateway"
    wan = plan.gateway.wan_nic.ifname
    expected = lab.outside_target().expected_source
    tl = timeline("net-05-gateway-restart")
    duration = limits.gateway_return_s * 2 + 30
    probe = Probe(lab, admin, "tcp_probe", [lab.address(other), str(GLUSTERD_PORT), "0.2", lifetime(lab, duration)],
                  REPORTS / "chaos" / "raw" / f"{tl.scenario}.jsonl").start()
    try:
        # Positive controls: routed and NATed before the fault, so "back" below means back.
        probe.wait_for(lambda s: sum(x["result"] == "ok" for x in s) >= 5, 20, f"{other.name} answering across the gateway")
        before = nat_seen(lab, admin)
        assert before and before == (expected or before), f"NET-05 did not hold before the fault (the outside saw {before})"
        fault = tl.event(f"poweroff {gw}")
        lab.poweroff(gw)
        samples = probe.wait_for(lambda s: any(x["t"] > fault and x["result"] != "ok" for x in s), 10,
                                 "the probe losing its route (the fault took effect)")
        tl.event("routing lost", next(x["t"] for x in samples if x["t"] > fault and x["result"] != "ok"))
        start = tl.event(f"start {gw}")
        lab.start(gw)
        samples = probe.wait_for(lambda s: any(x["t"] > start and x["result"] == "ok" for x in s), limits.gateway_return_s,
                                 f"{other.name} answering across the gateway again")
        routed = tl.event("routing back", next(x["t"] for x in samples if x["t"] > start and x["result"] == "ok"))
        seen = lab.wait_for("NAT to the outside again", lambda: nat_seen(lab, admin), limits.gateway_return_s, interval=0.5)
        natted = tl.event(f"the outside sees {seen}")
        if expected:
            assert seen == expected, f"NET-05: after the restart the outside saw {seen}, not the gateway's uplink {expected}"
        rules = lab.run(gw, ["iptables", "-t", "nat", "-S", "POSTROUTING"]).stdout
        assert f"-o {wan} -j MASQUERADE" in rules, f"NET-05: no MASQUERADE out of {wan} after the restart:\n{rules}"
        name = plan.fqdn(other)
        lab.wait_for(f"{name} resolving through the gateway's dnsmasq again",
                     lambda: lab.run(admin, ["getent", "hosts", name], timeout=10).stdout.split()[:1] == [lab.address(other)],
                     limits.gateway_return_s, interval=0.5)
        resolved = tl.event(f"{name} resolves again")
        record("NET-05 routing back after the gateway restarts", routed - start, budget["gateway_back"])
        record("NET-05 NAT back after the gateway restarts", natted - start, budget["gateway_back"])
        record("NET-06 DNS back after the gateway restarts", resolved - start, budget["gateway_back"])
        tl.figures.update(routing_back_s=round(routed - start, 3), nat_back_s=round(natted - start, 3),
                          dns_back_s=round(resolved - start, 3))
    finally:
        restore(lab, tl, gw, probe, f"{other.name}:{GLUSTERD_PORT} from the admin host")
