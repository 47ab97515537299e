"""The cluster's container images, made by us from the built binaries (and, where a program
calls Debian's tools, those tools from the lab's base image), named under the lab's own
image repository. Nodes import them into containerd: nothing is ever pulled."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from provision.errors import ProviderError
from provision.kube import binaries
from provision.kube.oci import Layer, write_archive

#: Never resolves (RFC 2606): a pull that should not happen fails without leaving the lab.
REPOSITORY = "registry.underhood.invalid"
RECIPE = "1"

#: Debian's iptables (nft back end) for the programs that call it: kube-proxy, flanneld.
IPTABLES = ("/usr/sbin/xtables-nft-multi",)
IPTABLES_LINKS = tuple(f"/usr/sbin/{t}{s}" for t in ("iptables", "ip6tables") for s in ("", "-save", "-restore"))
BUSYBOX_APPLETS = ("sh", "cp", "sleep", "echo", "cat", "ls", "httpd", "nc", "hostname", "ip", "ps", "wget", "mkdir", "rm", "test",
                   "date", "dd", "sync", "df", "mount", "id", "env", "true", "false", "grep", "head", "tail", "wc", "md5sum",
                   "timeout", "nslookup")


@dataclass(frozen=True)
class Image:
    name: str  # repository path below REPOSITORY
    tag: str
    component: binaries.Component
    binary: str
    extras: tuple[str, ...] = ()  # "iptables", "busybox"

    @property
    def ref(self) -> str:
        return f"{REPOSITORY}/{self.name}:{self.tag}"

    def archive_name(self) -> str:
        return f"{self.name}_{self.tag}.tar"


def control_plane_images(kubeadm_images: list[str]) -> list[Image]:
    """Our image for each image kubeadm says it needs (``kubeadm config images list``)."""
    by_name = {
        "kube-apiserver": (binaries.KUBERNETES, "kube-apiserver", ()),
        "kube-controller-manager": (binaries.KUBERNETES, "kube-controller-manager", ()),
        "kube-scheduler": (binaries.KUBERNETES, "kube-scheduler", ()),
        "kube-proxy": (binaries.KUBERNETES, "kube-proxy", ("iptables",)),
        "etcd": (binaries.ETCD, "etcd", ()),
        "coredns": (binaries.COREDNS, "coredns", ()),
        "pause": (binaries.PAUSE, "pause", ()),
    }
    out = []
    for ref in kubeadm_images:
        repo, tag = ref.rsplit(":", 1)
        if not repo.startswith(REPOSITORY + "/"):
            raise ProviderError(f"kubeadm lists {ref}, outside the lab's repository {REPOSITORY}: set imageRepository")
        name = repo[len(REPOSITORY) + 1:]
        if name not in by_name:
            raise ProviderError(f"kubeadm needs an image underhood does not build: {ref}")
        component, binary, extras = by_name[name]
        out.append(Image(name, tag, component, binary, extras))
    return out


def addon_images() -> list[Image]:
    return [
        # busybox for the init container that installs the CNI configuration, as upstream's.
        Image("flannel", binaries.FLANNEL.version, binaries.FLANNEL, "flanneld", ("iptables", "busybox")),
        Image("metallb-controller", binaries.METALLB.version, binaries.METALLB, "controller"),
        Image("metallb-speaker", binaries.METALLB.version, binaries.METALLB, "speaker"),
        # Test workloads and the demo application: Debian's busybox-static.
        Image("busybox", "debian12", binaries.PAUSE, "pause", ("busybox",)),
    ]


def needed_libraries(root: Path, paths: list[str]) -> set[str]:
    """Shared libraries of ``paths`` inside ``root``, by the image's own loader."""
    libs: set[str] = set()
    for path in paths:
        res = subprocess.run(["chroot", str(root), "ldd", path], capture_output=True, text=True)
        for line in res.stdout.splitlines():
            parts = line.split()
            for p in parts:
                if p.startswith("/"):
                    libs.add(p)
                    break
    return libs


def add_resolved(layer: Layer, root: Path, path: str) -> None:
    """Add ``path`` from ``root`` as it is there: symlinks as symlinks, then their target."""
    src = root / path.lstrip("/")
    if src.is_symlink():
        target = src.readlink()
        layer.symlink(path, str(target))
        resolved = target if target.is_absolute() else Path(path).parent / target
        add_resolved(layer, root, str(resolved))
    elif src.exists():
        layer.copy(src, path)


def _iptables(layer: Layer, root: Path) -> None:
    xtables = sorted(str(p.relative_to(root).as_posix()) for p in (root / "usr/lib/x86_64-linux-gnu/xtables").glob("*.so"))
    xtables = ["/" + p for p in xtables]
    for lib in sorted(needed_libraries(root, [*IPTABLES, *xtables])) + xtables + list(IPTABLES):
        add_resolved(layer, root, lib)
    for link in IPTABLES_LINKS:
        layer.symlink(link, "xtables-nft-multi")
    # iptables reads these; a minimal layer has neither.
    layer.copy(root / "etc/protocols", "etc/protocols")
    layer.file("run/xtables.lock", b"")


def _busybox(layer: Layer, root: Path) -> None:
    layer.copy(root / "bin/busybox", "bin/busybox", 0o755)
    for applet in BUSYBOX_APPLETS:
        layer.symlink(f"bin/{applet}", "busybox")
    layer.file("www/index.html", "underhood demo\n")


def build_image(image: Image, base_root: Path, out: Path) -> None:
    layer = Layer()
    layer.file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
    layer.file("etc/group", "root:x:0:\nnogroup:x:65534:\n")
    layer.file("etc/nsswitch.conf", "hosts: files dns\n")
    layer.dir("tmp", 0o1777)
    layer.dir("root", 0o700)
    layer.copy(binaries.bin_dir(image.component) / image.binary, f"usr/local/bin/{image.binary}", 0o755)
    for extra in image.extras:
        {"iptables": _iptables, "busybox": _busybox}[extra](layer, base_root)
    entrypoint = ["/bin/sh"] if image.name == "busybox" else [f"/usr/local/bin/{image.binary}"]
    write_archive(out, image.ref, layer, entrypoint)


def cache_dir(images: list[Image], base_root: Path) -> Path:
    h = hashlib.sha256(RECIPE.encode() + base_root.name.encode())
    for image in sorted(images, key=lambda i: i.ref):
        h.update(f"{image.ref} {image.component.key()} {image.extras}".encode())
    return binaries.CACHE / f"images-{h.hexdigest()[:12]}"


def ensure(images: list[Image], base_root: Path, log: Callable[[str], None] = print) -> Path:
    """Build the archives (once per set of images and binaries); return their directory."""
    def build(partial: Path) -> None:
        for image in images:
            log(f"image {image.ref}")
            build_image(image, base_root, partial / image.archive_name())

    return cached(cache_dir(images, base_root), build)


def cached(target: Path, build: Callable[[Path], None]) -> Path:
    """``target`` once ``build`` has filled it (a directory beside it until it is done); the
    earlier builds of the same kind (``target``'s name to its last dash) are removed."""
    if (target / ".complete").exists():
        return target
    partial = target.with_name(target.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    build(partial)
    for old in target.parent.glob(target.name.rsplit("-", 1)[0] + "-*"):
        if old != partial:
            subprocess.run(["rm", "-rf", str(old)], check=False)
    partial.rename(target)
    (target / ".complete").touch()
    return target
