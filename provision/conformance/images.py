"""The images Kubernetes' e2e tests run, made by us as the lab's own are: agnhost, the
sample API server and nonewprivs built from the cluster's pin, busybox built from its source
(busybox.py), Debian's DNS tools from the lab's base image, Debian's nginx from a root of its
own (no lab host runs nginx, so the base image does not carry it), the lab's own etcd for the
workers. They carry the names the tests ask for, under the lab's never-resolving repository
(the tests' registries are mapped there by KUBE_TEST_REPO_LIST), so nodes import them and
never pull.

Every image a [Conformance] test of v1.36.3 runs is made, and those of the storage pass; the
one test that pulls by design is left out (subset.CANNOT_RUN). A test that needs another
image fails, and the report names the image as its cause (results.cause)."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from provision import baseimage
from provision.conformance.busybox import build as build_busybox
from provision.conformance.busybox import cache_dir as busybox_dir
from provision.errors import ProviderError
from provision.kube import binaries, images
from provision.kube.oci import Layer, write_archive

RECIPE = "3"
#: The tests' registries (k8s.io/kubernetes test/utils/image, RegistryList), each mapped
#: under the lab's repository, which never resolves: a pull the lab did not expect fails
#: inside the lab.
REGISTRIES = ("promoterE2eRegistry", "buildImageRegistry", "invalidRegistry", "gcEtcdRegistry", "gcRegistry",
              "sigStorageRegistry", "privateRegistry", "dockerLibraryRegistry", "cloudProviderGcpRegistry")
E2E_REGISTRY = f"{images.REPOSITORY}/e2e-test-images"
#: Debian programs the test pods call (agnhost's Dockerfile installs their Alpine versions),
#: taken from the base image with the libraries they load.
DEBIAN_TOOLS = ("/usr/bin/curl", "/usr/bin/dig", "/usr/bin/nc", "/usr/bin/ss", "/usr/bin/ip", "/usr/bin/getent", "/usr/bin/nslookup")
DNS_TOOLS = ("/usr/bin/dig", "/usr/bin/getent", "/usr/bin/nslookup")
#: The Debian package the nginx images are made of, and the configuration they run.
NGINX_PACKAGE = "nginx-light"
NGINX_CONF = Path(__file__).with_name("nginx.conf")
#: The tests' etcd (Etcd in their manifest), which is kubeadm's own of v1.36.3: the lab's image.
ETCD_TAG = "3.6.8-0"


def repo_list() -> str:
    """KUBE_TEST_REPO_LIST's file: every registry of the tests under the lab's repository."""
    names = {"gcRegistry": images.REPOSITORY, "gcEtcdRegistry": images.REPOSITORY, "promoterE2eRegistry": E2E_REGISTRY}
    return yaml.safe_dump({key: names.get(key, f"{images.REPOSITORY}/{key.removesuffix('Registry').lower()}") for key in REGISTRIES},
                          sort_keys=False)


def lab_etcd() -> images.Image:
    """The lab's etcd image, as the lab's build makes it, under the tests' name for it (Etcd
    of their manifest, kubeadm's tag)."""
    (etcd,) = images.control_plane_images([f"{images.REPOSITORY}/etcd:{ETCD_TAG}"])
    return etcd


@dataclass(frozen=True)
class TestImage:
    """One image a test names: ``ref`` is the name the tests use once mapped (repo_list)."""

    ref: str
    kind: str  # "agnhost", "busybox", "dns", "nginx", "nautilus", "nonewprivs", "sample-apiserver", "etcd"

    def archive_name(self) -> str:
        return self.ref.removeprefix(images.REPOSITORY + "/").replace("/", "_").replace(":", "_") + ".tar"


#: The tags are those of v1.36.3's test/utils/image/manifest.go. AgnhostPrev (2.55) is the
#: same agnhost as 2.63.0: one test changes a pod's image from one to the other. Their pause
#: (3.10.2) is kubeadm's, which the nodes have already under that name.
IMAGES = (
    TestImage(f"{E2E_REGISTRY}/agnhost:2.63.0", "agnhost"),
    TestImage(f"{E2E_REGISTRY}/agnhost:2.55", "agnhost"),
    TestImage(f"{E2E_REGISTRY}/busybox:1.37.0-1", "busybox"),
    TestImage(f"{E2E_REGISTRY}/glibc-dns-testing:2.0.0", "dns"),
    # Nginx and NginxNew: the same server; the rollout tests change a pod's image from one
    # to the other, the storage suites run a volume's script in it
    TestImage(f"{E2E_REGISTRY}/nginx:1.15-4", "nginx"),
    TestImage(f"{E2E_REGISTRY}/nginx:1.27-0", "nginx"),
    # kubectl's Update Demo: a replication controller of it, its data read through the API
    TestImage(f"{E2E_REGISTRY}/nautilus:1.8", "nautilus"),
    # allowPrivilegeEscalation: a setuid-root program that prints the uid it runs as
    TestImage(f"{E2E_REGISTRY}/nonewprivs:1.4", "nonewprivs"),
    # the aggregator test: an API server of its own behind an APIService, in a pod beside
    # its etcd (the next image)
    TestImage(f"{E2E_REGISTRY}/sample-apiserver:1.29.2", "sample-apiserver"),
    # its etcd: the lab's own image, made as the lab makes it (the same archive, so a master's
    # import changes nothing), for the workers, which the lab gives no control-plane image
    TestImage(lab_etcd().ref, "etcd"),
)


def _applets(busybox: Path) -> list[str]:
    res = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, timeout=30)
    if res.returncode != 0 or not res.stdout.split():
        raise ProviderError(f"{busybox} lists no applets: {res.stderr.strip()}")
    return res.stdout.split()


def _busybox(layer: Layer, busybox: Path | None, sh: bool = True) -> None:
    """busybox 1.37.0 (busybox.build) with every applet in /bin, as the tests' busybox image
    has them; its ash as sh, as there and in the Alpine images, unless ``sh`` is False."""
    if busybox is None:
        raise ValueError("the image carries busybox: pass busybox (busybox.build())")
    layer.copy(busybox, "bin/busybox", 0o755)
    for applet in _applets(busybox):
        if applet != "busybox" and (sh or applet != "sh"):
            layer.symlink(f"bin/{applet}", "busybox")


def _debian(layer: Layer, root: Path, programs: tuple[str, ...]) -> None:
    for path in sorted(images.needed_libraries(root, list(programs))) + list(programs):
        images.add_resolved(layer, root, path)


def _base(layer: Layer, users: str = "", groups: str = "") -> None:
    layer.file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n" + users)
    layer.file("etc/group", "root:x:0:\nnogroup:x:65534:\n" + groups)
    layer.file("etc/nsswitch.conf", "passwd: files\ngroup: files\nhosts: files dns\n")
    layer.dir("tmp", 0o1777)
    layer.dir("root", 0o700)


def _nginx(layer: Layer, root: Path) -> None:
    """Debian's nginx laid out as the tests' image (nginx's own Alpine image) has it: its
    pages in /usr/share/nginx/html, its logs to the container's output, user nginx. The
    directories are those Debian's build names (temporary files, the default error log
    opened before the configuration is read)."""
    _debian(layer, root, ("/usr/sbin/nginx",))
    layer.copy(root / "etc/nginx/mime.types", "etc/nginx/mime.types", 0o644)
    layer.copy(NGINX_CONF, "etc/nginx/nginx.conf", 0o644)
    for path in ("var/lib/nginx", "var/log/nginx", "run", "usr/share/nginx/html"):
        layer.dir(path)
    layer.symlink("var/log/nginx/access.log", "/dev/stdout")
    layer.symlink("var/log/nginx/error.log", "/dev/stderr")
    layer.file("usr/share/nginx/html/index.html", "<!DOCTYPE html>\n<html><head><title>Welcome to nginx!</title></head>"
                                                   "<body><h1>Welcome to nginx!</h1></body></html>\n")
    layer.file("usr/share/nginx/html/50x.html", "<!DOCTYPE html>\n<html><body><h1>An error occurred.</h1></body></html>\n")


def build_image(image: TestImage, base_root: Path, tools: Path, out: Path, nginx_root: Path | None = None,
                busybox: Path | None = None) -> None:
    """One archive; ``tools`` is E2E_TOOLS' bin directory (agnhost), ``nginx_root`` a Debian
    root with NGINX_PACKAGE (nginx_root()), ``busybox`` the tests' busybox (busybox.build())."""
    layer = Layer()
    entrypoint: list[str] | None = None
    cmd: list[str] | None = ["sh"]
    if image.kind in ("agnhost", "nautilus"):
        # as agnhost's Dockerfile: the user and group one test expects, its upload
        # directory, porter's certificate, and agnhost-2 for the entrypoint tests
        _base(layer, "user-defined-in-image:x:1000:1000::/home/user-defined-in-image:/bin/sh\n",
              "user-defined-in-image:x:1000:\ngroup-defined-in-image:x:50000:user-defined-in-image\n")
        _busybox(layer, busybox)
        _debian(layer, base_root, DEBIAN_TOOLS)
        layer.copy(tools / "agnhost", "agnhost", 0o755)
        layer.symlink("agnhost-2", "agnhost")
        layer.dir("uploads")
        porter = _agnhost_source() / "porter"
        for name in ("localhost.crt", "localhost.key"):
            layer.copy(porter / name, name, 0o644)
        entrypoint, cmd = ["/agnhost"], ["pause"]
        if image.kind == "nautilus":
            # its Dockerfile: agnhost's image with a picture and its data, served from /
            html = _agnhost_source().parent / "nautilus" / "html"
            for name in ("nautilus.jpg", "data.json"):
                layer.copy(html / name, name, 0o644)
            cmd = ["test-webserver"]
    elif image.kind == "busybox":
        _base(layer)
        _busybox(layer, busybox)
    elif image.kind == "dns":
        # its image is Debian's (bookworm-slim with dnsutils): dash is its sh
        _base(layer)
        _busybox(layer, busybox, sh=False)
        _debian(layer, base_root, (*DNS_TOOLS, "/usr/bin/dash"))
        layer.symlink("bin/sh", "/usr/bin/dash")
        layer.copy(binaries.bin_dir(binaries.COREDNS) / "coredns", "coredns", 0o755)
    elif image.kind == "nonewprivs":
        # its Dockerfile: nnp in /usr/local/bin, setuid root, as the command
        _base(layer)
        layer.copy(binaries.bin_dir(binaries.E2E_NONEWPRIVS) / "nonewprivs", "usr/local/bin/nnp", 0o4755)
        cmd = ["nnp"]
    elif image.kind == "sample-apiserver":
        # its Dockerfile: the program as /sample-apiserver, the entrypoint; the test gives
        # its etcd, its certificate and its audit log as arguments
        _base(layer)
        layer.copy(binaries.bin_dir(binaries.E2E_SAMPLE_APISERVER) / "sample-apiserver", "sample-apiserver", 0o755)
        entrypoint, cmd = ["/sample-apiserver"], None
    elif image.kind == "etcd":
        images.build_image(lab_etcd(), base_root, out)
        return
    elif image.kind == "nginx":
        if nginx_root is None:
            raise ValueError(f"{image.ref} is made from a root with {NGINX_PACKAGE}: pass nginx_root")
        _base(layer, "nginx:x:101:101:nginx:/nonexistent:/bin/false\n", "nginx:x:101:\n")
        # a shell and coreutils as in nginx's Alpine image: the storage suites write a
        # script to the volume and run it in this image
        _busybox(layer, busybox)
        _nginx(layer, nginx_root)
        cmd = ["nginx", "-g", "daemon off;"]
    else:
        raise ValueError(f"unknown test image kind {image.kind!r}")
    write_archive(out, image.ref, layer, entrypoint, cmd=cmd)


def _agnhost_source() -> Path:
    """agnhost's directory in the pinned Kubernetes module (the build downloaded it)."""
    version = binaries.KUBERNETES.version
    path = binaries.GO_CACHE / "mod" / f"k8s.io/kubernetes@{version}" / "test/images/agnhost"
    if not path.is_dir():
        raise ProviderError(f"{path} is missing: build e2e-tools first (it downloads k8s.io/kubernetes@{version})")
    return path


def nginx_root_dir(suite: str) -> Path:
    return binaries.CACHE / f"nginx-root-{suite}-{hashlib.sha256(f'{baseimage.RECIPE} {NGINX_PACKAGE}'.encode()).hexdigest()[:12]}"


def nginx_root(suite: str, log: Callable[[str], None] = print) -> Path:
    """Debian ``suite`` with NGINX_PACKAGE, from Debian's mirrors as the base image is
    (cached; a minute the first time)."""
    def build(partial: Path) -> None:
        log(f"a Debian {suite} root with {NGINX_PACKAGE} (mmdebstrap), for the nginx test images")
        baseimage.mmdebstrap(suite, partial, [NGINX_PACKAGE])

    return images.cached(nginx_root_dir(suite), build)


def cache_dir(base_root: Path, suite: str) -> Path:
    h = hashlib.sha256(f"{RECIPE} {base_root.name} {busybox_dir().name} {binaries.E2E_TOOLS.key()} {binaries.COREDNS.key()} "
                       f"{binaries.E2E_NONEWPRIVS.key()} {binaries.E2E_SAMPLE_APISERVER.key()} {binaries.ETCD.key()} "
                       f"{nginx_root_dir(suite).name} {NGINX_CONF.read_text()}".encode())
    for image in IMAGES:
        h.update(f"{image.ref} {image.kind}".encode())
    return binaries.CACHE / f"e2e-images-{h.hexdigest()[:12]}"


def ensure(base_root: Path, suite: str, log: Callable[[str], None] = print) -> Path:
    """The archives of IMAGES (made once per base image and build); their directory.
    ``suite`` is the plan's Debian, which the nginx images are made of too."""
    def build(partial: Path) -> None:
        tools = binaries.build(binaries.E2E_TOOLS, log)
        binaries.build(binaries.COREDNS, log)
        binaries.build(binaries.E2E_NONEWPRIVS, log)
        binaries.build(binaries.E2E_SAMPLE_APISERVER, log)
        binaries.build(binaries.ETCD, log)
        nginx = nginx_root(suite, log)
        shell = build_busybox(log)
        for image in IMAGES:
            log(f"test image {image.ref}")
            build_image(image, base_root, tools, partial / image.archive_name(), nginx, shell)

    return images.cached(cache_dir(base_root, suite), build)
