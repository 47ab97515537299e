"""The HAProxy pair: corosync membership, pacemaker resources (VIP, haproxy), haproxy.cfg."""

from __future__ import annotations

from provision.render import File, render
from provision.secrets import Secrets
from provision.topology import Host, Member, Plan
from provision.topology import members as topology_members

CRM_FILE = "/etc/underhood/crm.txt"
COROSYNC_CONF = "/etc/corosync/corosync.conf"
AUTHKEY = "/etc/corosync/authkey"
HAPROXY_CFG = "/etc/haproxy/haproxy.cfg"


def members(plan: Plan) -> list[Member]:
    return topology_members(plan.loadbalancers)


def crm_configuration(plan: Plan, host: Host) -> str:
    """The documents' `crm configure` text (applied once, from the first node)."""
    return render("loadbalancer", "crm.txt.j2", plan=plan, p=plan.pacemaker, nic=host.lab_nic.ifname)


def haproxy_cfg(plan: Plan, host: Host, stats_password: str) -> str:
    return render("loadbalancer", "haproxy.cfg.j2", plan=plan, h=plan.haproxy, dns_server=plan.networks[host.network].gateway,
                  stats_password=stats_password)


def files(plan: Plan, host: Host, secrets: Secrets) -> list[File]:
    return [
        File(COROSYNC_CONF, render("loadbalancer", "corosync.conf.j2", c=plan.corosync, nodes=members(plan))),
        File(AUTHKEY, secrets.corosync_authkey, mode="0400"),
        File(HAPROXY_CFG, haproxy_cfg(plan, host, secrets.haproxy_stats_password), mode="0640"),
        File(CRM_FILE, crm_configuration(plan, host), mode="0600"),
    ]
