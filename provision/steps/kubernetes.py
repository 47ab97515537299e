"""Kubernetes nodes: the built binaries where Kubernetes' packages put them, containerd
configured and running, and the lab's images imported (nodes never pull)."""

from __future__ import annotations

import shlex
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from provision.kube import binaries, oci
from provision.kube.artifacts import Artifacts
from provision.roles import kubernetes
from provision.steps import must
from provision.topology import Host

#: Images a worker never runs: the control plane's static pods.
CONTROL_PLANE_ONLY = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd")
CNI_BIN = "/opt/cni/bin"
#: Debian's CNI plugins (containernetworking-plugins).
DEBIAN_CNI = "/usr/lib/cni"
#: Where a node keeps the build artifacts uploaded to it (binaries, image archives).
NODE_CACHE = "/var/cache/underhood/artifacts"


def deliver(p, host: Host, path: Path, mode: str = "0644") -> str:
    """Make a file of the machine's build cache present on a node; its path there. Where the
    provider shares the cache (a bind), nothing is copied."""
    shared = p.shared_path(host.name, path)
    if shared is not None:
        return shared
    dest = f"{NODE_CACHE}/{path.relative_to(binaries.CACHE)}"
    if p.upload(host.name, path, dest, mode):
        p.changed(f"{host.name}: uploaded {path.name}")
    return dest


def link(p, host: Host, links: dict[str, str]) -> None:
    """Symlinks ``path -> target`` on a host, in one command; those already right are left."""
    script = "; ".join(
        f'[ "$(readlink {shlex.quote(path)})" = {shlex.quote(target)} ] || '
        f"{{ mkdir -p {shlex.quote(str(Path(path).parent))} && ln -sfn {shlex.quote(target)} {shlex.quote(path)} && echo {shlex.quote(path)}; }}"
        for path, target in links.items())
    res = must(p.run(host.name, ["sh", "-c", f"set -e; {script}"], timeout=60), f"{host.name}: links")
    for path in res.stdout.split():
        p.changed(f"{host.name}: linked {path}")


def _node(p, host: Host, art: Artifacts) -> None:
    kube = art.bins["kubernetes"]
    links = {f"{kubernetes.BIN}/{name}": deliver(p, host, kube / name, "0755") for name in ("kubeadm", "kubelet", "kubectl")}
    # One CNI directory, as the CNI plugins' own packaging has it: Debian's plugins and
    # flannel's, which finds the bridge plugin it delegates to beside itself.
    plugins = must(p.run(host.name, ["ls", DEBIAN_CNI]), f"{host.name}: Debian's CNI plugins").stdout.split()
    links |= {f"{CNI_BIN}/{name}": f"{DEBIAN_CNI}/{name}" for name in plugins}
    links[f"{CNI_BIN}/flannel"] = deliver(p, host, art.bins["cni-flannel"] / "flannel", "0755")
    link(p, host, links)
    # The packages' directory for static pods: kubelet watches it on every node.
    must(p.run(host.name, ["mkdir", "-p", "/etc/kubernetes/manifests"]), f"{host.name}: manifests directory")
    config = kubernetes.containerd_config(art.image("pause").ref, in_container=p.hosts_are_containers())
    if p.write(host.name, config.path, config.content, config.mode):
        p.changed(f"{host.name}: wrote {config.path}")
        must(p.run(host.name, ["systemctl", "enable", "containerd"]), f"{host.name}: enable containerd")
        must(p.run(host.name, ["systemctl", "restart", "containerd"], timeout=60), f"{host.name}: restart containerd")
    else:
        p.ensure_active(host.name, "containerd")
    p.wait_for(f"containerd on {host.name}", lambda: p.run(host.name, ["ctr", "version"], timeout=10).ok, 30, interval=0.2)
    import_images(p, host, {image.ref: art.image_dir / image.archive_name() for image in art.images
                            if host.role == "master" or image.name not in CONTROL_PLANE_ONLY})


def import_images(p, host: Host, archives: dict[str, Path]) -> None:
    """Image archives of the build cache (by the name they carry) imported into a node's
    containerd, those it does not hold as they are now: an image rebuilt under the same
    name (a changed recipe) replaces the one there."""
    listing = must(p.run(host.name, ["ctr", "-n", "k8s.io", "images", "ls"]), f"{host.name}: list images").stdout
    present = {row[0]: row[2] for row in (line.split() for line in listing.splitlines()[1:]) if len(row) > 2}
    for ref, source in archives.items():
        if present.get(ref) == oci.archive_digest(source):
            continue
        archive = deliver(p, host, source)
        # Unpacked by containerd when a container first uses it.
        must(p.run(host.name, ["ctr", "-n", "k8s.io", "images", "import", "--no-unpack", archive], timeout=300),
             f"{host.name}: import {ref}")
        p.changed(f"{host.name}: imported {ref}")
        if p.shared_path(host.name, source) is None:
            # containerd holds it now; an uploaded copy would only fill the node's /var
            must(p.run(host.name, ["rm", "-f", archive]), f"{host.name}: remove {archive}")


def node_missing(p, host: Host) -> list[str]:
    """What a node lacks of this step, read only (the dry run of an existing lab): kubeadm,
    kubelet and kubectl of the plan's version, containerd running, flannel's CNI plugin.
    Images are not compared: a lab built elsewhere may pull them."""
    want = f"v{p.plan.versions.kubernetes}"
    missing = []
    for name, argv in (("kubeadm", ["kubeadm", "version", "-o", "short"]), ("kubelet", ["kubelet", "--version"]),
                       ("kubectl", ["kubectl", "version", "--client"])):
        res = p.run(host.name, argv, timeout=20)
        if not res.ok:
            missing.append(f"{name} absent")
        elif want not in res.stdout.replace(":", " ").split():
            missing.append(f"{name} is not {want} ({res.stdout.strip().splitlines()[0] if res.stdout.strip() else '?'})")
    if not p.run(host.name, ["systemctl", "is-active", "--quiet", "containerd"], timeout=20).ok:
        missing.append("containerd not running")
    if not p.run(host.name, ["test", "-x", f"{CNI_BIN}/flannel"], timeout=20).ok:
        missing.append(f"no {CNI_BIN}/flannel")
    return missing


def runtime(p, art: Artifacts) -> None:
    nodes = [h for h in p.plan.hosts if h.role in ("master", "worker")]
    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(lambda h: _node(p, h, art), nodes))
