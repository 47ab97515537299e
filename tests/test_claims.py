"""Claims on the documents' StorageClass, through the lab's CSI driver: STO-03 (the class as
the documents wrote it), STO-04 on a claim (a Replicate volume, 3 bricks on 3 nodes), STO-05
(data written by one pod read by a new pod on another node), STO-07 (a bound claim grows;
deleted, its volume and data stay)."""

from __future__ import annotations

import os
import secrets
import xml.etree.ElementTree as ET

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from provision import checks
from provision.errors import UnderhoodError
from provision.kube.images import REPOSITORY
from provision.roles.gluster import CSI_CALL_S, volume_options
from tests.test_kubernetes import exec_in, running_ready

GIB = 2**30
#: A claim binds within one call of the sidecar to the driver (its --timeout), with margin.
BIND_S = CSI_CALL_S + 30
#: gRPC codes the driver gives a claim that must change (a wrong volumetype or key): retried
#: by the sidecar all the same, so a wait would only run out.
FINAL = ("code = InvalidArgument", "code = Unauthenticated", "code = PermissionDenied")
#: A pod with a claim starts: scheduling, the FUSE mount, the container.
POD_S = 120


@pytest.fixture(scope="module")
def core(k8s):
    return client.CoreV1Api(k8s)


@pytest.fixture(scope="module")
def storage_class(k8s, plan):
    want = plan.gluster.storage_class
    try:
        return client.StorageV1Api(k8s).read_storage_class(want.name)
    except ApiException as exc:
        if exc.status == 404:
            pytest.fail(f"STO-03: no StorageClass {want.name}: the storage step has not run", pytrace=False)
        raise


@pytest.fixture(scope="module")
def ns(core, host, lab):
    name = f"underhood-claims-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{secrets.token_hex(3)}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name, grace_period_seconds=0)
    # Retain keeps what the claims made: the tests remove it, volumes and bricks included.
    for pv in core.list_persistent_volume().items:
        if pv.spec.claim_ref and pv.spec.claim_ref.namespace == name:
            core.delete_persistent_volume(pv.metadata.name)
            remove_volume(host, lab, pv.spec.csi.volume_attributes["volume"])


def remove_volume(host, lab, name: str) -> None:
    """Through the volume service, with its key as the node keeps it."""
    g = lab.plan.glusters[0]
    key = "python3 -c 'import json; print(json.load(open(\"/etc/gluster-volumes/config.json\"))[\"key\"])'"
    url = f"http://{lab.plan.fqdn(g)}:{lab.plan.gluster.volume_service.port}/volumes/{name}"
    host(g.name).run(f"curl -s -m 120 -u {lab.plan.gluster.volume_service.user}:$({key}) -X DELETE {url}")


def claim(core, lab, ns: str, name: str, size_gib: int = 1):
    """A bound claim of the documents' class."""
    core.create_namespaced_persistent_volume_claim(ns, {
        "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": lab.plan.gluster.storage_class.name,
                 "resources": {"requests": {"storage": f"{size_gib}Gi"}}}})

    def events() -> list[str]:
        return [e.message or "" for e in core.list_namespaced_event(ns, field_selector=f"involvedObject.name={name}").items]

    def bound_or_refused():
        c = core.read_namespaced_persistent_volume_claim(name, ns)
        if c.status.phase == "Bound":
            return c
        # a refusal the claim would have to change for (the driver's final codes) ends the wait
        return "refused" if any(code in m for m in events() for code in FINAL) else None

    try:
        got = lab.wait_for(f"claim {name} bound", bound_or_refused, BIND_S, interval=1)
    except UnderhoodError:
        got = None
    if got is None or got == "refused":
        pytest.fail(f"claim {name} not bound: {events()[-3:]}", pytrace=False)
    return got


def busybox(lab) -> str:
    """The lab's own busybox image (nodes never pull)."""
    return f"{lab.plan.kubernetes.image_repository or REPOSITORY}/busybox:debian12"


def pod_on(core, lab, ns: str, name: str, node: str, claim_name: str):
    image = busybox(lab)
    core.create_namespaced_pod(ns, {
        "metadata": {"name": name},
        "spec": {"nodeName": node, "terminationGracePeriodSeconds": 1,
                 "containers": [{"name": "c", "image": image, "command": ["/bin/sh", "-c", "exec sleep 3600"],
                                 "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                 "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim_name}}]}})

    return lab.wait_for(f"pod {name} on {node} running with its claim", lambda: running_pod(core, ns, name), POD_S, interval=1)


def pv_phase(core, name: str) -> str | None:
    """A persistent volume's phase; None once it is deleted."""
    try:
        return core.read_persistent_volume(name).status.phase
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def running_pod(core, ns: str, name: str) -> client.V1Pod | None:
    p = core.read_namespaced_pod(name, ns)
    return p if running_ready(p) else None


def gone(core, lab, ns: str, name: str) -> None:
    core.delete_namespaced_pod(name, ns, grace_period_seconds=0)

    def deleted() -> bool:
        try:
            core.read_namespaced_pod(name, ns)
            return False
        except ApiException as exc:
            return exc.status == 404

    lab.wait_for(f"pod {name} deleted", deleted, POD_S, interval=1)


def gluster_volume(host, lab, name: str) -> ET.Element:
    g = lab.plan.glusters[0].name
    return ET.fromstring(host(g).check_output(f"gluster volume info {name} --xml")).find(".//volume")


@pytest.mark.promise("STO-03")
def test_the_storage_class_is_the_documents(storage_class, plan, k8s):
    want = plan.gluster.storage_class
    assert storage_class.allow_volume_expansion is True and want.allow_volume_expansion
    assert storage_class.reclaim_policy == "Retain"
    assert storage_class.parameters["volumetype"] == "replicate:3"
    assert storage_class.provisioner == want.provisioner
    drivers = {d.metadata.name for d in client.StorageV1Api(k8s).list_csi_driver().items}
    assert want.provisioner in drivers, f"STO-03: the class's provisioner {want.provisioner} is no CSI driver of the cluster"


@pytest.mark.promise("STO-04", "STO-05")
def test_a_claim_is_a_replicated_volume_whose_data_outlives_its_pod(storage_class, core, lab, ns, host, k8s):
    c = claim(core, lab, ns, "data")
    pv = core.read_persistent_volume(c.spec.volume_name)
    name = pv.spec.csi.volume_attributes["volume"]
    vol = gluster_volume(host, lab, name)
    bricks = [b.findtext("name") for b in vol.iter("brick")]
    assert vol.findtext("typeStr") == "Replicate" and len(bricks) == 3, f"STO-04: {name} is {vol.findtext('typeStr')} with {bricks}"
    assert len({b.split(":")[0] for b in bricks}) == 3, f"STO-04: the bricks of {name} are not on 3 distinct nodes: {bricks}"
    g = host(lab.plan.glusters[0].name)
    wrong = checks.gluster_options_differ(lambda v, key: g.check_output(f"gluster volume get {v} {key}"), name, volume_options(lab.plan))
    assert not wrong, "STO-04: " + "; ".join(wrong)
    first, second = lab.plan.workers[0].name, lab.plan.workers[-1].name
    token = secrets.token_hex(8)
    writer = pod_on(core, lab, ns, "writer", first, "data")
    exec_in(k8s, writer, f"echo {token} > /data/proof && sync")
    gone(core, lab, ns, "writer")
    reader = pod_on(core, lab, ns, "reader", second, "data")
    assert exec_in(k8s, reader, "cat /data/proof").strip() == token, "STO-05: a new pod on another node did not read what the first wrote"


@pytest.mark.promise("STO-07")
def test_a_claim_grows_and_its_volume_outlives_it(storage_class, core, lab, ns, host, k8s):
    c = claim(core, lab, ns, "grows")
    name = core.read_persistent_volume(c.spec.volume_name).spec.csi.volume_attributes["volume"]
    pod = pod_on(core, lab, ns, "user", lab.plan.workers[0].name, "grows")
    token = secrets.token_hex(8)
    exec_in(k8s, pod, f"echo {token} > /data/kept && sync")
    core.patch_namespaced_persistent_volume_claim("grows", ns, {"spec": {"resources": {"requests": {"storage": "2Gi"}}}})

    def grown():
        claim_now = core.read_namespaced_persistent_volume_claim("grows", ns)
        return claim_now.status.capacity and claim_now.status.capacity.get("storage") == "2Gi"

    lab.wait_for("the claim grown to 2Gi", grown, BIND_S, interval=1)
    # the pod sees the new size (the volume's quota) without a restart
    size = int(exec_in(k8s, pod, "df -P -k /data | tail -1").split()[1]) * 1024
    assert size > 1 * GIB, f"STO-07: the pod still sees {size} bytes after the claim grew to 2Gi"
    gone(core, lab, ns, "user")
    core.delete_namespaced_persistent_volume_claim("grows", ns)
    lab.wait_for("the claim deleted", lambda: "grows" not in {x.metadata.name for x in core.list_namespaced_persistent_volume_claim(ns).items},
                 POD_S, interval=1)
    # Retain: the PV stays, Released once the volume controller has seen the claim go (and
    # a PV that is deleted instead never turns Released: the wait fails), and the Gluster
    # volume stays with the data.
    lab.wait_for(f"{c.spec.volume_name} Released (STO-07: Retain)", lambda: pv_phase(core, c.spec.volume_name) == "Released",
                 POD_S, interval=1)
    assert gluster_volume(host, lab, name).findtext("statusStr") == "Started"
    first = lab.plan.glusters[0]
    brick = next(b.findtext("name") for b in gluster_volume(host, lab, name).iter("brick") if b.findtext("name").startswith(lab.plan.fqdn(first)))
    assert host(first.name).file(f"{brick.split(':', 1)[1]}/kept").content_string.strip() == token


@pytest.mark.promise("STO-09")
def test_lifetimes_as_the_documents_table_says(storage_class, core, lab, ns, k8s):
    """A container's own files go with the container, a pod volume (emptyDir) with the pod,
    a persistent volume with neither."""
    claim(core, lab, ns, "lives")
    image = busybox(lab)
    node = lab.plan.workers[0].name

    def start() -> client.V1Pod:
        core.create_namespaced_pod(ns, {
            "metadata": {"name": "lives"},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 1, "restartPolicy": "Always",
                     # PID 1 ends on SIGTERM (the kernel spares a namespace's init any signal it has no handler for)
                     "containers": [{"name": "c", "image": image, "command": ["/bin/sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"],
                                     "volumeMounts": [{"name": "pod", "mountPath": "/pod"}, {"name": "pv", "mountPath": "/pv"}]}],
                     "volumes": [{"name": "pod", "emptyDir": {}}, {"name": "pv", "persistentVolumeClaim": {"claimName": "lives"}}]}})
        return lab.wait_for("pod lives running", lambda: running_pod(core, ns, "lives"), POD_S, interval=1)

    def files(pod) -> dict[str, bool]:
        out = exec_in(k8s, pod, "for f in /own /pod/f /pv/f; do [ -e $f ] && echo $f; done")
        return {f: f in out.split() for f in ("/own", "/pod/f", "/pv/f")}

    pod = start()
    exec_in(k8s, pod, "touch /own /pod/f /pv/f && sync")
    restarts = pod.status.container_statuses[0].restart_count
    exec_in(k8s, pod, "kill 1")  # the container ends; kubelet starts it again in the same pod

    def restarted():
        p = core.read_namespaced_pod("lives", ns)
        return p if running_ready(p) and p.status.container_statuses[0].restart_count > restarts else None

    pod = lab.wait_for("the container restarted", restarted, POD_S, interval=1)
    assert files(pod) == {"/own": False, "/pod/f": True, "/pv/f": True}, "STO-09 after a container restart"
    gone(core, lab, ns, "lives")
    assert files(start()) == {"/own": False, "/pod/f": False, "/pv/f": True}, "STO-09 in a new pod"
