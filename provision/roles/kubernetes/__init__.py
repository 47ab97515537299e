"""What every Kubernetes node needs (K8S-01): br_netfilter and the forwarding sysctls."""

from __future__ import annotations

from provision.render import File, render
from provision.secrets import Secrets
from provision.topology import Host, Plan

#: Debian's container runtime and the tools kubelet, kube-proxy and kubeadm's preflight call
#: on a node; the Kubernetes binaries themselves come from provision.kube.
PACKAGES = ("containerd", "runc", "containernetworking-plugins", "conntrack", "socat", "ethtool", "ebtables",
            "busybox-static")

MODULES_FILE = "/etc/modules-load.d/bridge.conf"
SYSCTL_FILE = "/etc/sysctl.d/10-kubernetes.conf"
KUBELET_UNIT = "/etc/systemd/system/kubelet.service"
#: kubeadm, kubelet and kubectl, where Kubernetes' packages put them.
BIN = "/usr/bin"


def node_files() -> list[File]:
    return [
        File(MODULES_FILE, render("kubernetes", "bridge.conf.j2")),
        File(SYSCTL_FILE, render("kubernetes", "10-kubernetes.conf.j2")),
        File(KUBELET_UNIT, render("kubernetes", "kubelet.service.j2", bin=BIN)),
        File("/etc/systemd/system/kubelet.service.d/10-kubeadm.conf", render("kubernetes", "10-kubeadm.conf.j2", bin=BIN)),
    ]


CONTAINERD_CONFIG = "/etc/containerd/config.toml"


def containerd_config(sandbox_image: str, in_container: bool) -> File:
    return File(CONTAINERD_CONFIG, render("kubernetes", "containerd.toml.j2", sandbox_image=sandbox_image,
                                          in_container=in_container))


JOIN_CONFIG = "/etc/kubernetes/kubeadm-join.yaml"


def join_config(plan: Plan, host: Host, address: str, secrets: Secrets, ca_hash: str) -> File:
    """The JoinConfiguration of a master (control plane) or a worker. Rendered when it
    joins: a worker's address comes from DHCP and the CA's hash from `kubeadm init`."""
    text = render("kubernetes", "kubeadm-join.yaml.j2", plan=plan, host=host, address=address, secrets=secrets, ca_hash=ca_hash)
    return File(JOIN_CONFIG, text, mode="0600")
