"""Gateway step: forwarding, NAT rules, dnsmasq (the provider connected its uplink)."""

from __future__ import annotations

import time

from provision.errors import ProviderError
from provision.roles.gateway import NAT_UNIT, RULES
from provision.steps import must
from provision.topology import WAN


def configure(p) -> None:
    """Forwarding, the NAT rules and dnsmasq, on any provider: the role wrote their files."""
    name = p.plan.gateway.name
    must(p.run(name, ["sysctl", "-q", "-p", "/etc/sysctl.d/10-gateway.conf"]), f"{name}: sysctl")
    wan_ifname = p.plan.gateway.wan_nic.ifname
    # The unit loads the rules at every boot; now too, where they are missing.
    if not p.run(name, ["systemctl", "is-enabled", "--quiet", NAT_UNIT]).ok:
        must(p.run(name, ["systemctl", "enable", NAT_UNIT]), f"{name}: enable {NAT_UNIT}")
        p.changed(f"{name}: enabled {NAT_UNIT}")
    if f"-o {wan_ifname} -j MASQUERADE" not in p.run(name, ["iptables", "-t", "nat", "-S", "POSTROUTING"]).stdout:
        must(p.run(name, ["systemctl", "restart", NAT_UNIT]), f"{name}: load {RULES} ({NAT_UNIT})")
        p.changed(f"{name}: loaded iptables rules")
    # dnsmasq binds its DNS sockets to the addresses there are when it starts (bind-interfaces):
    # networkd sets them a moment after its files are read, so it starts once they are there.
    wanted = {str(p.plan.networks[n.network].gateway) for n in p.plan.gateway.nics if n.network != WAN}
    p.wait_for(f"{name}'s lab addresses ({', '.join(sorted(wanted))})",
               lambda: wanted <= set(p.run(name, ["ip", "-4", "-o", "addr", "show"], timeout=10).stdout.replace("/", " ").split()), 30)
    p.ensure_active(name, "dnsmasq")


#: How long a host may take to show its lease once its lab NIC is configured (measured:
#: under a second; networkd sends its first DISCOVER as the NIC is configured).
LEASE_S = 45
#: networkd repeats an unanswered DISCOVER after a growing backoff (up to a minute): a lost
#: one is asked again this often rather than waited out, times the provider's slowness. Asked
#: again sooner than a slow host completes its exchange, a host never keeps its lease: each
#: `networkctl reconfigure` drops the one it was getting (libvirt smoke run 11).
REASK_S = 6
#: Asked this many times without an address showing, networkd itself is restarted, its log
#: at debug level until the address shows (what the error shows if it does not). Libvirt
#: smoke run 13 and a CI run of the ssh path: the host's networkd logged each lease acquired
#: within a second of each ask, eight asks in a row, and the kernel never had the address;
#: reconfiguring the link changed nothing.
RESTART_AT = 3
NETWORKD = "systemd-networkd"


def wait_for_leases(p) -> None:
    plan = p.plan
    for host in plan.hosts:
        if host.role == "gateway":
            continue
        want = plan.fixed_address(host)
        got = wait_for_lease(p, host)
        if want and got != str(want):
            raise ProviderError(f"{host.name} got {got} by DHCP instead of its reserved {want}")


def wait_for_lease(p, host) -> str:
    """The host's leased address, its DHCP client asked again while none shows (networkd
    restarted once, at the RESTART_AT-th ask)."""
    ifname = host.lab_nic.ifname
    asked = [time.monotonic()]

    def leased() -> str | None:
        got = p.address(host, missing_ok=True)
        if not got and time.monotonic() - asked[-1] >= REASK_S * p.wait_scale:
            if len(asked) + 1 == RESTART_AT:
                p.run(host.name, ["systemctl", "restart", NETWORKD], timeout=60)
                p.run(host.name, ["systemctl", "service-log-level", NETWORKD, "debug"], timeout=20)
            else:
                p.run(host.name, ["networkctl", "reconfigure", ifname], timeout=20)
            asked.append(time.monotonic())
        return got

    try:
        got = p.wait_for(f"a DHCP lease on {host.name}", leased, LEASE_S, interval=0.5)
    except ProviderError as e:
        raise ProviderError(f"{e} (its DHCP client asked {len(asked)} times)\n{lease_diagnosis(p, host)}") from None
    if len(asked) > 1:
        # on the console, so a CI run that passed slowly says which host and how
        restart = f", networkd restarted at ask {RESTART_AT}" if len(asked) >= RESTART_AT else ""
        p.recovered(f"{host.name}: DHCP asked {len(asked)} times{restart}; leased "
                    f"{time.monotonic() - asked[0]:.1f} s after the first ask")
    if len(asked) >= RESTART_AT:
        # its log back to the level every other host's networkd runs at
        p.run(host.name, ["systemctl", "service-log-level", NETWORKD, "info"], timeout=20)
    return got


def lease_diagnosis(p, host) -> str:
    """What the address check itself gets, the link's state as networkd sees it, networkd's
    and the gateway's dnsmasq's last lines, so the cause is in the error (libvirt smoke run 13:
    a lease the journal showed acquired that the check did not see)."""
    ifname = host.lab_nic.ifname
    check = ["ip", "-4", "-o", "addr", "show", "dev", ifname]
    seen = p.run(host.name, check, timeout=10)
    # the header (state, addresses) without the log lines networkctl appends
    status = p.run(host.name, ["networkctl", "status", "--no-pager", "-n", "0", ifname], timeout=20)
    logged = p.run(host.name, ["journalctl", "-u", NETWORKD, "--no-pager", "-o", "short-precise", "-n", "40"], timeout=20)
    gw = p.plan.gateway.name
    served = p.run(gw, ["journalctl", "-u", "dnsmasq", "--no-pager", "-o", "cat", "-n", "15"], timeout=20)
    return (f"{host.name} `{' '.join(check)}` (exit {seen.rc}): {(seen.stdout + seen.stderr).strip()[-300:] or 'nothing'}\n"
            f"{host.name} networkctl status: {(status.stdout or status.stderr).strip()[:1500]}\n"
            f"{host.name} networkd: {(logged.stdout or logged.stderr).strip()[-4000:]}\n"
            f"{gw} dnsmasq: {(served.stdout or served.stderr).strip()[-1500:]}")
