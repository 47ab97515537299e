"""Masters: the kubeadm configuration (stacked etcd: a member per master), the node settings."""

from __future__ import annotations

from provision.render import File, render
from provision.roles.kubernetes import node_files
from provision.secrets import Secrets
from provision.topology import Host, Member, Plan, members

ETCD_PKI = "/etc/kubernetes/pki/etcd"
KUBEADM_CONFIG = "/etc/kubernetes/kubeadm-config.yaml"


def etcd_members(plan: Plan) -> list[Member]:
    return members(plan.masters)


def etcd_endpoints(plan: Plan) -> list[str]:
    return [f"https://{m.address}:{plan.etcd.client_port}" for m in etcd_members(plan)]


def files(plan: Plan, host: Host, secrets: Secrets) -> list[File]:
    address = str(host.lab_nic.address)
    return [
        # Holds the bootstrap token and the certificate key.
        File(KUBEADM_CONFIG, render("master", "kubeadm-config.yaml.j2", plan=plan, host=host, address=address, secrets=secrets),
             mode="0600"),
        *node_files(),
    ]
