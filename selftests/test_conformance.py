"""Kubernetes' e2e run without a lab: its selection, its images' contents, the command on the
admin host, and what is read from ginkgo's JUnit (a stand-in with each outcome)."""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path

import pytest
import yaml

from provision import topology
from provision.conformance import images, results, run, subset
from provision.kube import binaries
from provision.kube import images as lab_images

PLAN = topology.load()
FOCUSED, STORAGE = subset.passes(PLAN, full=False, driver_file="/d.yaml")
FULL = subset.passes(PLAN, full=True, driver_file="/d.yaml")[0]
PASSES = {"conformance": {"seconds": 500.0, "counts": {}}, "storage": {"seconds": 100.0, "counts": {}}}
DRIVER = PLAN.gluster.storage_class.provisioner
ADMIN = PLAN.by_role("admin")[0].name
JUNIT = f"""<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="5" disabled="0" errors="0" failures="2" time="400.0">
  <testsuite name="Kubernetes e2e suite" package="/opt" tests="5" skipped="2" errors="0" failures="2" time="400.0">
    <testcase name="[SynchronizedBeforeSuite]" classname="Kubernetes e2e suite" status="passed" time="1.5"></testcase>
    <testcase name="[It] [sig-network] DNS should provide DNS for the cluster [Conformance]" classname="Kubernetes e2e suite"
      status="passed" time="20.5"></testcase>
    <testcase name="[It] [sig-network] Services should serve a basic endpoint from pods [Conformance]" classname="Kubernetes e2e suite"
      status="failed" time="300.0">
      <failure message="Timed out after 300.000s." type="failed">[FAILED] Timed out after 300.000s.
endpoints not ready</failure>
    </testcase>
    <testcase name="[It] [sig-node] Pods should be updated [NodeConformance] [Conformance] [sig-node, NodeConformance, Conformance]"
      classname="Kubernetes e2e suite" status="failed" time="300.0">
      <failure message="Timed out after 300.001s." type="failed">expected pod success: Timed out after 300.001s.</failure>
      <system-err>message: 'Back-off pulling image "registry.underhood.invalid/e2e-test-images/nginx:1.15-4": reason: ImagePullBackOff</system-err>
    </testcase>
    <testcase name="[It] External Storage [Driver: {DRIVER}] [Testpattern: Dynamic PV (default fs)] volumes should store data"
      classname="Kubernetes e2e suite" status="passed" time="40.0"></testcase>
    <testcase name="[It] [sig-node] Pods should get a host IP [NodeConformance] [Conformance]" classname="Kubernetes e2e suite" status="skipped" time="0.1">
      <skipped message="skipped - the node has no IPv6"></skipped>
    </testcase>
    <testcase name="[It] [sig-apps] Job should run a job to completion [Conformance]" classname="Kubernetes e2e suite"
      status="skipped" time="0"><skipped message="skipped"></skipped></testcase>
    <testcase name="[ReportAfterSuite] Kubernetes e2e JUnit report" classname="Kubernetes e2e suite" status="passed" time="0.1"></testcase>
  </testsuite>
</testsuites>
"""


def test_the_focus_takes_the_documents_areas_and_nothing_else():
    taken = ["[sig-network] DNS should provide DNS for services [Conformance]",
             "[sig-network] Networking Granular Checks: Pods should function for intra-pod communication: http [NodeConformance] [Conformance]",
             "[sig-node] Pods Extended Pods Set QOS Class should be set on Pods with matching resource requests [Conformance]",
             "[sig-node] Container Runtime blackbox test on terminated container should report termination message [Conformance]",
             "[sig-storage] Secrets should be consumable from pods in volume [NodeConformance] [Conformance]"]
    left = ["[sig-apps] Job should run a job to completion [Conformance]", "[sig-storage] Projected secret should be consumable [Conformance]",
            "[sig-node] PodTemplates should delete a collection of pod templates [Conformance]",
            "[sig-network] EndpointSlice should have Endpoints and EndpointSlices pointing to API Server [Conformance]"]
    assert [subset.in_focus(n) for n in taken] == [True] * len(taken)
    assert [subset.in_focus(n) for n in left] == [False] * len(left)
    assert subset.ginkgo_selection(full=True) == ["--label-filter=Conformance"]
    assert subset.ginkgo_selection(full=False) == ["--label-filter=Conformance", f"--focus={subset.focus()}"]


def test_every_registry_of_the_tests_is_mapped_into_the_labs_repository():
    mapped = yaml.safe_load(images.repo_list())
    assert set(mapped) == set(images.REGISTRIES)
    # .invalid never resolves: a pull the lab did not expect fails inside it
    assert all(v == lab_images.REPOSITORY or v.startswith(lab_images.REPOSITORY + "/") for v in mapped.values())
    assert f"{mapped['promoterE2eRegistry']}/agnhost:2.63.0" in {i.ref for i in images.IMAGES}
    assert mapped["gcRegistry"] == lab_images.REPOSITORY  # their pause is kubeadm's, already on every node
    assert all("/" not in i.archive_name() for i in images.IMAGES)


def _root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    for path in ("usr/bin/dash", *(p.lstrip("/") for p in images.DEBIAN_TOOLS)):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(b"\x7fELF " + path.encode())
    return root


def _busybox(tmp_path: Path) -> Path:
    """A stand-in for busybox.build()'s binary (the applets are the test's own)."""
    path = tmp_path / "busybox-build" / "busybox"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(b"\x7fELF busybox 1.37.0")
    return path


def _config_and_files(archive: Path, read: str | None = None) -> tuple[dict, dict[str, tarfile.TarInfo | bytes]]:
    """The image's config and its layer's entries; ``read``: that file's content instead of its entry."""
    with tarfile.open(archive) as t:
        index = json.loads(t.extractfile("index.json").read())
        manifest = json.loads(t.extractfile(f"blobs/sha256/{index['manifests'][0]['digest'][7:]}").read())
        config = json.loads(t.extractfile(f"blobs/sha256/{manifest['config']['digest'][7:]}").read())
        layer = t.extractfile(f"blobs/sha256/{manifest['layers'][0]['digest'][7:]}")
        with tarfile.open(fileobj=layer) as lt:
            files = {m.name: (lt.extractfile(m).read() if m.name == read else m) for m in lt.getmembers()}
    return config, files


def test_agnhost_is_laid_out_as_its_dockerfile_says(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "_applets", lambda root: ["busybox", "sh", "seq"])
    monkeypatch.setattr(lab_images, "needed_libraries", lambda root, paths: set())
    porter = tmp_path / "agnhost" / "porter"
    porter.mkdir(parents=True)
    for name in ("localhost.crt", "localhost.key"):
        (porter / name).write_text(name)
    monkeypatch.setattr(images, "_agnhost_source", lambda: tmp_path / "agnhost")
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "agnhost").write_bytes(b"\x7fELF agnhost")
    out = tmp_path / "agnhost.tar"
    images.build_image(images.IMAGES[0], _root(tmp_path), tools, out, busybox=_busybox(tmp_path))
    config, files = _config_and_files(out)
    assert (config["config"]["Entrypoint"], config["config"]["Cmd"]) == (["/agnhost"], ["pause"])
    assert files["agnhost-2"].linkname == "agnhost" and files["bin/seq"].linkname == "busybox"
    # busybox 1.37's ash as sh, as Alpine's: the tests read its own words
    assert files["bin/sh"].linkname == "busybox" and "usr/bin/bash" not in files
    assert {"usr/bin/dig", "usr/bin/curl", "usr/bin/nc", "uploads", "localhost.crt"} <= set(files)
    assert _config_and_files(out, read="bin/busybox")[1]["bin/busybox"] == _busybox(tmp_path).read_bytes()

    busybox = tmp_path / "busybox.tar"
    images.build_image(next(i for i in images.IMAGES if i.kind == "busybox"), _root(tmp_path), tools, busybox,
                       busybox=_busybox(tmp_path))
    config, files = _config_and_files(busybox)
    # no entrypoint: a pod's args run as they are, as with the tests' own busybox
    assert "Entrypoint" not in config["config"] and config["config"]["Cmd"] == ["sh"]
    assert "agnhost" not in files and files["bin/sh"].linkname == "busybox"
    # the control: an image that carries busybox is refused without it, not made without a shell
    with pytest.raises(ValueError, match="busybox"):
        images.build_image(next(i for i in images.IMAGES if i.kind == "busybox"), _root(tmp_path), tools, tmp_path / "none.tar")


def test_the_dns_image_has_debians_tools_and_dash_as_its_debian_image_has(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "_applets", lambda root: ["busybox", "sh", "cat"])
    monkeypatch.setattr(lab_images, "needed_libraries", lambda root, paths: set())
    _built(tmp_path, monkeypatch, "coredns")
    (dns,) = [i for i in images.IMAGES if i.kind == "dns"]
    out = tmp_path / "dns.tar"
    images.build_image(dns, _root(tmp_path), tmp_path, out, busybox=_busybox(tmp_path))
    _, files = _config_and_files(out)
    assert files["bin/sh"].linkname == "/usr/bin/dash" and "usr/bin/dash" in files
    assert files["bin/cat"].linkname == "busybox" and {*(p.lstrip("/") for p in images.DNS_TOOLS), "coredns"} <= set(files)


def test_nautilus_is_agnhost_serving_its_picture(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "_applets", lambda root: ["busybox", "sh"])
    monkeypatch.setattr(lab_images, "needed_libraries", lambda root, paths: set())
    source = tmp_path / "images"
    for path in ("agnhost/porter/localhost.crt", "agnhost/porter/localhost.key", "nautilus/html/nautilus.jpg",
                 "nautilus/html/data.json"):
        (source / path).parent.mkdir(parents=True, exist_ok=True)
        (source / path).write_text(path)
    monkeypatch.setattr(images, "_agnhost_source", lambda: source / "agnhost")
    (tmp_path / "agnhost").write_bytes(b"\x7fELF agnhost")
    (nautilus,) = [i for i in images.IMAGES if i.kind == "nautilus"]
    out = tmp_path / "nautilus.tar"
    images.build_image(nautilus, _root(tmp_path), tmp_path, out, busybox=_busybox(tmp_path))
    config, files = _config_and_files(out)
    # agnhost's test-webserver serves / : the update demo reads /data.json through the API
    assert (config["config"]["Entrypoint"], config["config"]["Cmd"]) == (["/agnhost"], ["test-webserver"])
    assert {"agnhost", "nautilus.jpg", "data.json"} <= set(files)


def _built(tmp_path, monkeypatch, program: str) -> list:
    """A component's build as one program of that name (its content stands for the binary);
    the components the image then asks for, in order."""
    bins, asked = tmp_path / "bin", []
    bins.mkdir()
    (bins / program).write_bytes(b"\x7fELF " + program.encode())
    monkeypatch.setattr(binaries, "bin_dir", lambda component: asked.append(component) or bins)
    return asked


def test_nonewprivs_runs_its_program_setuid_root(tmp_path, monkeypatch):
    _built(tmp_path, monkeypatch, "nonewprivs")
    (image,) = [i for i in images.IMAGES if i.kind == "nonewprivs"]
    out = tmp_path / "nonewprivs.tar"
    images.build_image(image, _root(tmp_path), tmp_path, out)
    config, files = _config_and_files(out)
    assert config["config"]["Cmd"] == ["nnp"] and "/usr/local/bin" in config["config"]["Env"][0]
    # setuid root: what the test checks is that allowPrivilegeEscalation=false defeats it
    nnp = files["usr/local/bin/nnp"]
    assert (nnp.mode & 0o7777, nnp.uid) == (0o4755, 0)


def test_the_sample_apiserver_is_its_program_as_the_entrypoint(tmp_path, monkeypatch):
    asked = _built(tmp_path, monkeypatch, "sample-apiserver")
    (image,) = [i for i in images.IMAGES if i.kind == "sample-apiserver"]
    assert image.ref.endswith("/sample-apiserver:1.29.2")  # APIServer of the tests' manifest
    # a staging module of the cluster's release: v0.36.3 beside v1.36.3
    assert binaries.E2E_SAMPLE_APISERVER.version == "v0." + binaries.KUBERNETES.version.removeprefix("v1.")
    out = tmp_path / "sample-apiserver.tar"
    images.build_image(image, _root(tmp_path), tmp_path, out)
    config, files = _config_and_files(out)
    # the test passes only arguments: the program must be the entrypoint
    assert config["config"]["Entrypoint"] == ["/sample-apiserver"] and "Cmd" not in config["config"]
    assert files["sample-apiserver"].mode & 0o777 == 0o755 and asked == [binaries.E2E_SAMPLE_APISERVER]


def test_the_tests_etcd_is_the_labs_own_archive_so_a_masters_import_changes_nothing(tmp_path, monkeypatch):
    _built(tmp_path, monkeypatch, "etcd")
    (image,) = [i for i in images.IMAGES if i.kind == "etcd"]
    test_archive, lab_archive = tmp_path / "test.tar", tmp_path / "lab.tar"
    images.build_image(image, _root(tmp_path), tmp_path, test_archive)
    # the lab's own image for kubeadm's etcd, as its build makes it
    (lab_etcd,) = lab_images.control_plane_images([image.ref])
    lab_images.build_image(lab_etcd, _root(tmp_path), lab_archive)
    assert image.ref.endswith(f"/etcd:{images.ETCD_TAG}") and test_archive.read_bytes() == lab_archive.read_bytes()
    config, files = _config_and_files(test_archive)
    assert "usr/local/bin/etcd" in files
    assert config["config"]["Entrypoint"] == ["/usr/local/bin/etcd"]  # the test runs /usr/local/bin/etcd


def test_the_tests_etcd_tag_is_kubeadms_of_the_pin():
    source = binaries.GO_CACHE / "mod" / f"k8s.io/kubernetes@{binaries.KUBERNETES.version}"
    if not source.is_dir():
        pytest.skip(f"{source} is not downloaded (a build of the cluster downloads it)")
    manifest = (source / "test/utils/image/manifest.go").read_text()
    kubeadm = (source / "cmd/kubeadm/app/constants/constants.go").read_text()
    assert f'"etcd", "{images.ETCD_TAG}"}}' in manifest and f'DefaultEtcdVersion = "{images.ETCD_TAG}"' in kubeadm


def test_the_nginx_root_without_mmdebstrap_or_with_its_failure_says_so(tmp_path, monkeypatch):
    import subprocess

    from provision import baseimage
    from provision.errors import ProviderError

    monkeypatch.setattr(binaries, "CACHE", tmp_path)
    monkeypatch.setattr(baseimage.shutil, "which", lambda tool: None)
    with pytest.raises(ProviderError, match=r"mmdebstrap is missing: apt-get install mmdebstrap"):
        images.nginx_root(PLAN.versions.debian, log=lambda text: None)
    monkeypatch.setattr(baseimage.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    ran: list[list[str]] = []
    real_run = subprocess.run

    def run(argv, **kwargs):
        if argv[0] != "mmdebstrap":
            return real_run(argv, **kwargs)
        ran.append(argv)
        return subprocess.CompletedProcess(argv, 1, "", "E: no mirror")

    monkeypatch.setattr(baseimage.subprocess, "run", run)
    with pytest.raises(ProviderError, match=rf"mmdebstrap of {images.NGINX_PACKAGE} failed \(1\): E: no mirror"):
        images.nginx_root(PLAN.versions.debian, log=lambda text: None)
    assert f"--include={images.NGINX_PACKAGE}" in ran[0]
    assert not images.nginx_root_dir(PLAN.versions.debian).exists()  # nothing taken for built


def test_nginx_is_debians_laid_out_as_the_tests_image_with_a_shell(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "_applets", lambda root: ["busybox", "sh", "ls", "chmod"])
    monkeypatch.setattr(lab_images, "needed_libraries", lambda root, paths: {"/lib/x86_64-linux-gnu/libpcre2-8.so.0"})
    nginx_root = tmp_path / "nginx-root"
    for path in ("usr/sbin/nginx", "etc/nginx/mime.types", "lib/x86_64-linux-gnu/libpcre2-8.so.0"):
        (nginx_root / path).parent.mkdir(parents=True, exist_ok=True)
        (nginx_root / path).write_bytes(b"from the root " + path.encode())
    nginx = [i for i in images.IMAGES if i.kind == "nginx"]
    # Nginx and NginxNew of the tests' manifest
    assert {i.ref.rsplit("/", 1)[1] for i in nginx} == {"nginx:1.15-4", "nginx:1.27-0"}
    out = tmp_path / "nginx.tar"
    images.build_image(nginx[0], _root(tmp_path), tmp_path, out, nginx_root, _busybox(tmp_path))
    config, files = _config_and_files(out)
    assert "Entrypoint" not in config["config"] and config["config"]["Cmd"] == ["nginx", "-g", "daemon off;"]
    assert {"usr/sbin/nginx", "lib/x86_64-linux-gnu/libpcre2-8.so.0", "etc/nginx/mime.types", "etc/nginx/nginx.conf",
            "usr/share/nginx/html/index.html", "var/lib/nginx"} <= set(files)
    assert files["var/log/nginx/error.log"].linkname == "/dev/stderr" and files["bin/chmod"].linkname == "busybox"
    # the control: without its root the image is refused, not made without nginx
    with pytest.raises(ValueError, match="nginx_root"):
        images.build_image(nginx[0], _root(tmp_path), tmp_path, tmp_path / "none.tar", busybox=_busybox(tmp_path))


def test_the_run_is_ginkgo_on_the_admin_host_bounded_and_through_the_vip_kubeconfig():
    paths = {"e2e": "/c/e2e.test", "ginkgo": "/c/ginkgo", "kubectl": "/c/kubectl"}
    argv = run.argv(paths, FOCUSED, procs=3)
    bound = FOCUSED.timeout_s
    assert argv[:6] == ["env", f"KUBE_TEST_REPO_LIST={run.WORK}/repo-list.yaml", "timeout", "-k", "30", str(bound + 60)]
    assert argv[6] == "/c/ginkgo" and "--procs=3" in argv and f"--timeout={bound}s" in argv
    assert FULL.timeout_s > bound and STORAGE.timeout_s < bound  # the whole set is hours
    e2e = argv.index("/c/e2e.test")
    assert argv[e2e + 1] == "--" and f"--kubeconfig={run.WORK}/admin.conf" in argv[e2e:]
    assert f"--focus={subset.focus()}" in argv[:e2e] and "--label-filter=Conformance" in argv[:e2e]
    assert not any(a.startswith("--focus") for a in run.argv(paths, FULL, procs=2))
    # what cannot run here is left out of every pass, the whole set's too
    assert f"--skip={subset.SKIP}" in run.argv(paths, FULL, procs=2) and f"--skip={subset.SKIP}" in argv
    image_volume = ("[sig-node] ImageVolume should succeed with pod and pull policy of Always [LinuxOnly] "
                    "[MinimumKubeletVersion:1.35] [Conformance]")
    assert not FULL.selected(image_volume) and FULL.selected(image_volume.replace("ImageVolume", "Image Volume"))
    storage = run.argv(paths, STORAGE, procs=2)
    assert "--storage.testdriver=/d.yaml" in storage[storage.index("--"):]
    assert not any(a.startswith("--label-filter") for a in storage)  # no [Conformance] test makes a volume


def test_the_storage_pass_takes_the_labs_driver_and_its_suites():
    name = (f"External Storage [Driver: {PLAN.gluster.storage_class.provisioner}] [Testpattern: Dynamic PV (default fs)(allowExpansion)] "
            "volume-expand should resize volume when PVC is edited while pod is using it")
    assert STORAGE.selected(name) and subset.witnessed(name) == ["STO-07"]
    plain = name.replace("(allowExpansion)", "").replace("volume-expand should resize", "volumes should store data").split(" when")[0]
    assert STORAGE.selected(plain)
    # what needs an image underhood does not make is left out, and why is recorded; nginx is
    # made, so the volume's script runs in it
    populator = plain.replace("volumes should store data", "provisioning should provision storage with any volume data source")
    assert not STORAGE.selected(populator) and "populator" in subset.CANNOT_RUN["should provision storage with any volume data source"]
    assert STORAGE.selected(plain.replace("should store data", "should allow exec of files on the volume"))
    assert not STORAGE.selected(name.replace(PLAN.gluster.storage_class.provisioner, "hostpath.csi.k8s.io"))
    assert not STORAGE.selected(name.replace("volume-expand", "snapshottable"))
    assert not STORAGE.selected(name + " [Disruptive]")
    definition = yaml.safe_load(subset.driver_definition(PLAN, "/c.yaml"))
    assert definition["StorageClass"] == {"FromFile": "/c.yaml"}
    # the lab's class but Delete: the suites refuse to clean up after a class that retains
    sc = yaml.safe_load(subset.storage_class(PLAN))
    assert (sc["provisioner"], sc["reclaimPolicy"]) == (PLAN.gluster.storage_class.provisioner, "Delete")
    assert sc["parameters"]["volumetype"] == PLAN.gluster.storage_class.volumetype
    assert sc["metadata"]["name"] != PLAN.gluster.storage_class.name
    caps = definition["DriverInfo"]["Capabilities"]
    assert caps["controllerExpansion"] is PLAN.gluster.storage_class.allow_volume_expansion and caps["nodeExpansion"] is False


def test_junit_is_read_per_sig_with_each_failures_cause_and_the_witnesses():
    found = results.parse(JUNIT, FOCUSED.selected)
    # the suite's own nodes and the specs the focus left out are not this run's
    assert [c.name.split(" should")[0] for c in found.cases] == [
        "[sig-network] DNS", "[sig-network] Services", "[sig-node] Pods", "[sig-node] Pods"]
    assert found.counts() == {"passed": 1, "failed": 2, "skipped": 1, "unfinished": 0}
    assert found.per_sig() == {"sig-network": {"passed": 1, "failed": 1, "skipped": 0, "unfinished": 0},
                               "sig-node": {"passed": 0, "failed": 1, "skipped": 1, "unfinished": 0}}
    causes = {f["test"].split(" should")[0]: f["cause"] for f in found.failures()}
    assert causes["[sig-node] Pods"].startswith("missing image registry.underhood.invalid/e2e-test-images/nginx:1.15-4")
    assert all(not c.name.endswith("Conformance]") or c.name.endswith(" [Conformance]") for c in found.cases)  # no label list
    storage = results.parse(JUNIT, STORAGE.selected)
    assert [(c.sig, c.outcome) for c in storage.cases] == [("sig-storage (the lab's driver)", "passed")]
    assert [t["outcome"] for t in storage.witnesses()["STO-04"]] == ["passed"]
    assert causes["[sig-network] Services"].startswith("timed out")
    witnesses = found.witnesses()
    assert [(t["outcome"]) for t in witnesses["K8S-07"]] == ["passed"]
    assert [(t["outcome"]) for t in witnesses["K8S-09"]] == ["failed"]
    assert "K8S-06" in found.unwitnessed()  # no networking test ran: said, not silently absent
    full = results.parse(JUNIT, FULL.selected)
    # every [Conformance] test is the full run's; a bare skip in a run whose bound did not elapse is a skip
    assert full.per_sig()["sig-apps"] == {"passed": 0, "failed": 0, "skipped": 1, "unfinished": 0}


def test_a_failed_expectation_is_the_cause_not_only_how_long_it_waited():
    # run 10's failure, as ginkgo's JUnit gives it
    message = ("Timed out after 60.000s.\nExpected\n    <string>: /bin/sh: line 1: /file: Read-only file system\\n\n"
               "to equal\n    <string>: /bin/sh: can't create /file: Read-only file system\\n\n[FAILED] Timed out after 60.000s.")
    assert results.cause(message) == ('timed out: got "/bin/sh: line 1: /file: Read-only file system\\n", expected to equal '
                                      '"/bin/sh: can\'t create /file: Read-only file system\\n"')
    # the control: a message with no expectation keeps its first line
    assert results.cause("Timed out after 300.000s.\nendpoints not ready") == "timed out: Timed out after 300.000s."


def test_the_runs_witnesses_join_the_promise_table(tmp_path):
    from provision.report import merge_runs

    class Lab:
        name = "local"

    run.record(Lab(), tmp_path, results.parse(JUNIT, FOCUSED.selected), full=False, procs=2, passes=PASSES)
    providers, table = merge_runs(tmp_path / "promises")
    assert providers == ["local"]
    assert table["K8S-07"]["local"].status == "passed" and table["K8S-09"]["local"].status == "failed"
    assert table["K8S-07"]["local"].tests[0]["suite"] == "k8s-conformance"
    summary = json.loads((tmp_path / "k8s-conformance.json").read_text())
    assert summary["counts"]["failed"] == 2 and summary["kubernetes"] == binaries.KUBERNETES.version


@pytest.mark.parametrize("lines, said", [
    (["Will run 85 of 7579 specs", "------------------------------", "• [6.488 seconds]",
      "[sig-storage] Secrets should be consumable [NodeConformance] [Conformance] [sig-storage, NodeConformance, Conformance]",
      "  STEP: Creating a pod to test consume secrets", "• [FAILED] [300.100 seconds]",
      "[sig-network] DNS should provide DNS for services [Conformance] [sig-network, Conformance]", "• [38.586 seconds]",
      f"External Storage [Driver: {DRIVER}] [Testpattern: Dynamic PV (default fs)] volumes should store data",
      "[SKIPPED] in [It] - provisioning.go:190"],
     ["  Will run 85 of 7579 specs", "  1/85 • [6.488 seconds] [sig-storage] Secrets should be consumable [NodeConformance] [Conformance]",
      "  2/85 • [FAILED] [300.100 seconds] [sig-network] DNS should provide DNS for services [Conformance]",
      f"  3/85 • [38.586 seconds] External Storage [Driver: {DRIVER}] [Testpattern: Dynamic PV (default fs)] volumes should store data"]),
    (["  STEP: creating a pod", "I1205 log line", "Ran 85 of 7120 Specs in 900.1 seconds", "SUCCESS! -- 85 Passed"],
     ["  Ran 85 of 7120 Specs in 900.1 seconds", "  SUCCESS! -- 85 Passed"]),
])
def test_progress_says_each_finished_test_and_the_runs_end(lines, said):
    out: list[str] = []
    progress = run.Progress(out.append)
    for line in lines:
        progress.line(line + "\n")
    assert out == said


def test_the_report_has_the_runs_section_per_sig_with_its_failures(tmp_path):
    from provision import topology
    from provision.report import build

    class Lab:
        name = "local"

    run.record(Lab(), tmp_path, results.parse(JUNIT, FOCUSED.selected), full=False, procs=2, passes=PASSES)
    page = build(topology.load(), tmp_path).read_text()
    section = page[page.index('id="k8s-conformance"'):page.index("Errata of the documents")]
    assert "1 passed, 2 failed, 1 skipped" in section and "<td>sig-network</td>" in section
    assert "missing image registry.underhood.invalid/e2e-test-images/nginx:1.15-4" in section
    assert "left out: they cannot run here" in section
    empty = tmp_path / "empty"
    assert "No run recorded" in build(topology.load(), empty).read_text()


def test_focus_narrows_the_run_to_the_conformance_tests_it_names():
    (only,) = subset.passes(PLAN, full=False, driver_file="/d.yaml", only=r"ConfigMap .*environment")
    assert only.ginkgo == ("--label-filter=Conformance", r"--focus=ConfigMap .*environment")
    assert only.selected("[sig-node] ConfigMap should be consumable via the environment [NodeConformance] [Conformance]")
    assert not only.selected("[sig-node] Secrets should be consumable via the environment [NodeConformance] [Conformance]")


def test_the_command_prints_the_tests_names_with_their_brackets(monkeypatch, capsys):
    import provision.__main__ as cli

    class Lab:
        def is_up(self):
            return True

    def fake_run(p, reports, full, procs, only, log, minutes):
        log("  1/85 • [6.5 seconds] [sig-network] DNS should provide DNS for services [Conformance]")
        return results.parse(JUNIT, FOCUSED.selected)

    monkeypatch.setattr(cli, "_provider", lambda args: Lab())
    monkeypatch.setattr(run, "run", fake_run)
    assert cli.main(["conformance"]) == 1  # two failed in the stand-in JUnit
    out = capsys.readouterr().out
    assert "[sig-network] DNS should provide DNS for services [Conformance]" in out
    assert "failed: [sig-network] Services should serve a basic endpoint from pods [Conformance]" in out


def test_an_interrupted_pass_ends_its_run_on_the_admin_host_by_pid(tmp_path, monkeypatch):
    """The run is ginkgo under timeout(1) on the admin host, outside this process: stopping
    here must end it there too, by the PID it wrote, not by name."""
    import subprocess

    from provision.providers.base import Result

    monkeypatch.setattr(run, "PID_FILE", str(tmp_path / "run.pid"))
    ran: list[list[str]] = []

    class Admin:
        def exec_argv(self, host, command):
            # the pass's own wrapper, around a stand-in for ginkgo that would run for a minute
            return [*command[:4], "sh", "-c", "echo 'Will run 2 of 9 specs'; exec sleep 60"]

        def run(self, host, argv, timeout=60):
            ran.append(argv)
            res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
            return Result(res.returncode, res.stdout, res.stderr)

    def interrupted(text):
        if "Will run" in text:  # ginkgo has started: Ctrl-C now
            raise KeyboardInterrupt

    paths = {"e2e": "/c/e2e.test", "ginkgo": "/c/ginkgo", "kubectl": "/c/kubectl"}
    with pytest.raises(KeyboardInterrupt):
        run.run_pass(Admin(), ADMIN, paths, FOCUSED, 2, tmp_path, interrupted)
    assert ran == [["sh", "-c", f'kill -TERM "$(cat {tmp_path / "run.pid"})"']]
    pid = int((tmp_path / "run.pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # ended, not left sleeping


#: A pass its bound ended (ginkgo's suite timeout): one test passed, one was cut, one was never
#: begun; beside them a test's own timeout and a test that skipped itself, which stay the lab's.
BOUNDED_JUNIT = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="5" failures="2">
  <testsuite name="Kubernetes e2e suite" tests="5" failures="2">
    <properties><property name="SuiteSucceeded" value="false"></property>
      <property name="SpecialSuiteFailureReason" value="Suite Timeout Elapsed"></property></properties>
    <testcase name="[It] [sig-network] DNS should provide DNS for the cluster [Conformance]" status="passed" time="20.5"></testcase>
    <testcase name="[It] [sig-apps] Deployment should run the lifecycle of a Deployment [Conformance]" status="timedout" time="40.0">
      <failure message="A suite timeout occurred" type="timedout">[TIMEDOUT] A suite timeout occurred</failure></testcase>
    <testcase name="[It] [sig-apps] Job should run a job to completion [Conformance]" status="skipped" time="0">
      <skipped message="skipped"></skipped></testcase>
    <testcase name="[It] [sig-node] Pods should be submitted and removed [Conformance]" status="timedout" time="300.0">
      <failure message="A spec timeout occurred" type="timedout">[TIMEDOUT] A spec timeout occurred</failure></testcase>
    <testcase name="[It] [sig-node] Pods should get a host IP [Conformance]" status="skipped" time="0.1">
      <skipped message="skipped - the node has no IPv6"></skipped></testcase>
  </testsuite>
</testsuites>
"""


def test_what_the_runs_bound_ended_is_unfinished_not_the_labs_failure():
    found = results.parse(BOUNDED_JUNIT, FULL.selected)
    assert [(c.name.split(" should")[0], c.outcome) for c in found.cases] == [
        ("[sig-network] DNS", "passed"), ("[sig-apps] Deployment", "unfinished"), ("[sig-apps] Job", "unfinished"),
        ("[sig-node] Pods", "failed"), ("[sig-node] Pods", "skipped")]
    assert found.counts() == {"passed": 1, "failed": 1, "skipped": 1, "unfinished": 2}
    assert [f["test"].split(" should")[0] for f in found.failures()] == ["[sig-node] Pods"]
    # the control: the same outcomes where the bound did not elapse stay failed and skipped
    unbounded = results.parse(BOUNDED_JUNIT.replace("Suite Timeout Elapsed", ""), FULL.selected)
    assert unbounded.counts() == {"passed": 1, "failed": 2, "skipped": 2, "unfinished": 0}


def test_minutes_bound_each_pass_never_beyond_its_own(tmp_path):
    from provision import topology
    from provision.report import build

    assert run.bounded(FULL, 60).timeout_s == 3600 and "--timeout=3600s" in run.argv({"e2e": "e", "ginkgo": "g", "kubectl": "k"},
                                                                                         run.bounded(FULL, 60), 2)
    assert run.bounded(STORAGE, 24 * 60).timeout_s == STORAGE.timeout_s and run.bounded(FULL, None) == FULL

    class Lab:
        name = "local"

    run.record(Lab(), tmp_path, results.parse(BOUNDED_JUNIT, FULL.selected), full=True, procs=2, passes=PASSES, minutes=60)
    assert json.loads((tmp_path / "k8s-conformance.json").read_text())["bound_minutes"] == 60
    page = build(topology.load(), tmp_path).read_text()
    section = page[page.index('id="k8s-conformance"'):page.index("Errata of the documents")]
    assert "2 unfinished: the run ended each pass after 60 min" in " ".join(section.split()) and "<th>unfinished</th>" in section
    # no unfinished column for a run its bound did not end
    run.record(Lab(), tmp_path, results.parse(JUNIT, FOCUSED.selected), full=False, procs=2, passes=PASSES)
    assert "<th>unfinished</th>" not in build(topology.load(), tmp_path).read_text()


def test_minutes_must_be_a_whole_positive_number(monkeypatch, capsys):
    import provision.__main__ as cli

    class Lab:
        def is_up(self):
            return True

    monkeypatch.setattr(cli, "_provider", lambda args: Lab())
    monkeypatch.setattr(run, "run", lambda *a, **k: pytest.fail("ran with a bound of 0 minutes"))
    assert cli.main(["conformance", "--full", "--minutes", "0"]) != 0
    said = capsys.readouterr()
    assert "--minutes 0: give a whole number of minutes" in said.err + said.out
