"""Kubernetes nodes: the built binaries where Kubernetes' packages put them, containerd
configured and running, and the lab's images imported (nodes never pull)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from provision.kube import binaries
from provision.kube.artifacts import Artifacts
from provision.providers.local.steps import must
from provision.roles import kubernetes
from provision.topology import Host

#: Images a worker never runs: the control plane's static pods.
CONTROL_PLANE_ONLY = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd")
CNI_BIN = "/opt/cni/bin"


def on_node(p, path: Path) -> str:
    """Where a node sees a file of the machine's build cache."""
    from provision.providers.local import KUBE_CACHE

    return f"{KUBE_CACHE}/{path.relative_to(binaries.CACHE)}"


def _link(p, host: Host, path: str, target: str) -> None:
    link = p.container(host).root / path.lstrip("/")
    if link.is_symlink() and str(link.readlink()) == target:
        return
    link.parent.mkdir(parents=True, exist_ok=True)
    link.unlink(missing_ok=True)
    link.symlink_to(target)
    p.changed(f"{host.name}: linked {path}")


def _node(p, host: Host, art: Artifacts) -> None:
    c = p.container(host)
    kube = art.bins["kubernetes"]
    for name in ("kubeadm", "kubelet", "kubectl"):
        _link(p, host, f"{kubernetes.BIN}/{name}", on_node(p, kube / name))
    # One CNI directory, as the CNI plugins' own packaging has it: Debian's plugins and
    # flannel's, which finds the bridge plugin it delegates to beside itself.
    for plugin in sorted((c.root / "usr/lib/cni").iterdir()):
        _link(p, host, f"{CNI_BIN}/{plugin.name}", f"/usr/lib/cni/{plugin.name}")
    _link(p, host, f"{CNI_BIN}/flannel", on_node(p, art.bins["cni-flannel"] / "flannel"))
    # The packages' directory for static pods: kubelet watches it on every node.
    (c.root / "etc/kubernetes/manifests").mkdir(parents=True, exist_ok=True)
    config = kubernetes.containerd_config(art.image("pause").ref, in_container=True)
    changed = c.write(config.path, config.content, config.mode)
    if changed:
        p.changed(f"{host.name}: wrote {config.path}")
        must(p.run(host.name, ["systemctl", "enable", "containerd"]), f"{host.name}: enable containerd")
        must(p.run(host.name, ["systemctl", "restart", "containerd"], timeout=60), f"{host.name}: restart containerd")
    else:
        p.ensure_active(host.name, "containerd")
    p.wait_for(f"containerd on {host.name}", lambda: p.run(host.name, ["ctr", "version"], timeout=10).ok, 30, interval=0.2)
    present = set(must(p.run(host.name, ["ctr", "-n", "k8s.io", "images", "ls", "-q"]), f"{host.name}: list images").stdout.split())
    for image in art.images:
        if image.ref in present or (host.role != "master" and image.name in CONTROL_PLANE_ONLY):
            continue
        archive = on_node(p, art.image_dir / image.archive_name())
        # Unpacked by containerd when a container first uses it.
        must(p.run(host.name, ["ctr", "-n", "k8s.io", "images", "import", "--no-unpack", archive], timeout=300),
             f"{host.name}: import {image.ref}")
        p.changed(f"{host.name}: imported {image.ref}")


def runtime(p, art: Artifacts) -> None:
    nodes = [h for h in p.plan.hosts if h.role in ("master", "worker")]
    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(lambda h: _node(p, h, art), nodes))
