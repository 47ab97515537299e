"""The Kubernetes promises, checked through the API with the official client (kubeconfig
through the VIP), and in pods on every node: K8S-02..11, ETCD-01 by the API, SEC-02, SEC-06."""

from __future__ import annotations

import base64
import ipaddress
import os
import secrets
import socket
import ssl
import tempfile

import pytest
import yaml
from kubernetes import client
from kubernetes.stream import stream

from provision import checks
from provision.errors import UnderhoodError
from provision.kube.images import REPOSITORY
from provision.kubeclient import anonymous_status, tunnel_to
from provision.pytest_plugin import admin_host
from provision.steps.addons import pods_not_ready

COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd")
CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"


def ready(node) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])


def running_ready(pod) -> bool:
    return pod.status.phase == "Running" and all(c.ready for c in pod.status.container_statuses or [])


@pytest.fixture(scope="module")
def core(k8s):
    return client.CoreV1Api(k8s)


@pytest.fixture(scope="module")
def nodes(core):
    return {n.metadata.name: n for n in core.list_node().items}


@pytest.fixture(scope="module")
def probes(k8s, core, lab):
    """A client pod on every node (busybox, tolerating every taint): node name -> pod."""
    # A name of this run's own: the namespace of the run before may still be terminating.
    ns = f"underhood-tests-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{secrets.token_hex(3)}"
    apps = client.AppsV1Api(k8s)
    image = f"{lab.plan.kubernetes.image_repository or REPOSITORY}/busybox:debian12"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    ds = {
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "probe"},
        "spec": {
            "selector": {"matchLabels": {"app": "probe"}},
            "template": {
                "metadata": {"labels": {"app": "probe"}},
                "spec": {
                    "tolerations": [{"operator": "Exists"}],
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{
                        "name": "probe", "image": image, "command": ["/bin/sh", "-c", "exec sleep 3600"],
                    }],
                },
            },
        },
    }
    try:
        apps.create_namespaced_daemon_set(ns, ds)
        want = {h.name for h in (*lab.plan.masters, *lab.plan.workers)}

        def all_running():
            pods = core.list_namespaced_pod(ns, label_selector="app=probe").items
            by_node = {p.spec.node_name: p for p in pods if running_ready(p)}
            return by_node if want <= set(by_node) else None

        try:
            found = lab.wait_for("a probe pod Running on every node", all_running, 120, interval=1)
        except UnderhoodError as exc:
            raise UnderhoodError(f"{exc}: {probe_states(core, ns, want)}") from None
        yield found
    finally:
        core.delete_namespace(ns, grace_period_seconds=0)


def probe_states(core, ns: str, want: set[str]) -> str:
    """What each node's probe pod is doing, for the message of a wait that timed out."""
    pods = core.list_namespaced_pod(ns, label_selector="app=probe").items
    by_node = {p.spec.node_name: p for p in pods}
    states = []
    for node in sorted(want):
        pod = by_node.get(node)
        if pod is None:
            states.append(f"{node}: no pod")
        elif not running_ready(pod):
            waiting = [c.state.waiting.reason for c in pod.status.container_statuses or [] if c.state and c.state.waiting]
            states.append(f"{node}: {pod.metadata.name} {pod.status.phase} {','.join(w for w in waiting if w)}".rstrip())
    return "; ".join(states)


def exec_in(k8s, pod, command: str) -> str:
    api = client.CoreV1Api(k8s)
    return stream(api.connect_get_namespaced_pod_exec, pod.metadata.name, pod.metadata.namespace,
                  command=["/bin/sh", "-c", command], stderr=True, stdin=False, stdout=True, tty=False, _request_timeout=30)


def http_get(k8s, pod, address: str, port: int, path: str = "/cgi-bin/whoami") -> str:
    """An HTTP GET from inside ``pod`` (busybox nc: Debian's busybox wget is not reliable)."""
    host = f"[{address}]" if ":" in address else address
    request = f"GET {path} HTTP/1.0\\r\\nHost: {host}\\r\\n\\r\\n"
    return exec_in(k8s, pod, f"printf '{request}' | timeout 5 nc -w 3 {address} {port}")


# -- control plane ---------------------------------------------------------------------------
@pytest.mark.promise("K8S-02")
def test_cluster_configuration_in_the_cluster(plan, core):
    cm = core.read_namespaced_config_map("kubeadm-config", "kube-system")
    cc = yaml.safe_load(cm.data["ClusterConfiguration"])
    assert cc["controlPlaneEndpoint"] == f"{plan.vip.address}:{plan.vip.port}"
    assert str(plan.vip.address) in cc["apiServer"]["certSANs"]
    assert cc["networking"]["podSubnet"] == str(plan.lab.pod_cidr)


@pytest.mark.promise("K8S-03")
def test_three_control_plane_nodes_ready_running_every_component(plan, core, nodes):
    masters = [m.name for m in plan.masters]
    control_plane = sorted(n for n, node in nodes.items() if CONTROL_PLANE_LABEL in (node.metadata.labels or {}))
    assert control_plane == sorted(masters)
    assert all(ready(nodes[m]) for m in masters), [m for m in masters if not ready(nodes[m])]
    pods = {p.metadata.name: p for p in core.list_namespaced_pod("kube-system").items}
    for m in masters:
        for component in COMPONENTS:
            pod = pods.get(f"{component}-{m}")
            assert pod is not None and pod.spec.node_name == m, f"K8S-03: no {component} on {m}"
            assert running_ready(pod), f"K8S-03: {component} on {m} is {pod.status.phase}"


@pytest.mark.promise("ETCD-01")
def test_one_etcd_member_per_master_seen_by_the_api(plan, core):
    pods = core.list_namespaced_pod("kube-system", label_selector="component=etcd").items
    assert sorted(p.spec.node_name for p in pods) == sorted(m.name for m in plan.masters)
    assert all(running_ready(p) for p in pods)


@pytest.mark.promise("K8S-04")
def test_api_answers_through_the_vip_with_a_certificate_for_it(plan, lab, k8s):
    kubeconfig = yaml.safe_load(lab.run(plan.masters[0].name, ["cat", "/etc/kubernetes/admin.conf"]).stdout)
    ca = base64.b64decode(kubeconfig["clusters"][0]["cluster"]["certificate-authority-data"]).decode()
    vip = str(plan.vip.address)
    with tempfile.NamedTemporaryFile("w", suffix=".crt") as f, tunnel_to(lab, vip, plan.vip.port) as t:
        f.write(ca)
        f.flush()
        ctx = ssl.create_default_context(cafile=f.name)
        with socket.create_connection(("127.0.0.1", t.port), timeout=10) as raw, \
                ctx.wrap_socket(raw, server_hostname=vip) as tls:  # verifies the chain and the VIP's IP SAN
            cert = tls.getpeercert()
    assert ("IP Address", vip) in cert["subjectAltName"]
    assert client.VersionApi(k8s).get_code().git_version == f"v{plan.versions.kubernetes}"


# -- nodes and the pod network ---------------------------------------------------------------
@pytest.mark.promise("K8S-05")
def test_workers_joined_and_ready(plan, nodes):
    for w in plan.workers:
        assert w.name in nodes, f"K8S-05: {w.name} has not joined"
        assert ready(nodes[w.name]), f"K8S-05: {w.name} is not Ready"
        assert CONTROL_PLANE_LABEL not in (nodes[w.name].metadata.labels or {})


@pytest.mark.promise("K8S-06")
def test_pods_get_addresses_from_their_nodes_lease_and_talk_without_nat(plan, k8s, nodes, probes, core):
    pod_cidr = ipaddress.ip_network(plan.lab.pod_cidr)
    for name, pod in probes.items():
        ip = ipaddress.ip_address(pod.status.pod_ip)
        assert ip in pod_cidr, f"K8S-06: {pod.metadata.name} on {name} has {ip}"
        assert ip in ipaddress.ip_network(nodes[name].spec.pod_cidr), f"K8S-06: {ip} is not from {name}'s lease"
    demo = [p for p in core.list_namespaced_pod("demo", label_selector="app=demo").items if running_ready(p)]
    assert demo, "the demo application has no running pod"
    for name, pod in probes.items():
        target = next((d for d in demo if d.spec.node_name != name), None)
        if target is None:
            continue
        answer = http_get(k8s, pod, target.status.pod_ip, 8080)
        seen = answer.strip().splitlines()[-1].split()[0].strip("[]").removeprefix("::ffff:")
        assert seen == pod.status.pod_ip, f"K8S-06: {target.spec.node_name} saw {name}'s pod as {seen}, not {pod.status.pod_ip}"


@pytest.mark.promise("K8S-07")
def test_coredns_three_replicas_on_the_masters_and_names_resolve(plan, k8s, core, probes):
    apps = client.AppsV1Api(k8s)
    dep = apps.read_namespaced_deployment("coredns", "kube-system")
    assert dep.spec.replicas == plan.kubernetes.coredns_replicas
    assert CONTROL_PLANE_LABEL in (dep.spec.template.spec.node_selector or {})
    pods = [p for p in core.list_namespaced_pod("kube-system", label_selector="k8s-app=kube-dns").items if running_ready(p)]
    assert len(pods) == plan.kubernetes.coredns_replicas
    assert {p.spec.node_name for p in pods} <= {m.name for m in plan.masters}
    worker_probe = probes[plan.workers[0].name]
    name = f"kubernetes.default.svc.{plan.kubernetes.cluster_domain}"
    answer = exec_in(k8s, worker_probe, f"nslookup {name}")
    api_service = str(next(ipaddress.ip_network(plan.lab.service_cidr).hosts()))  # kubernetes.default's ClusterIP
    problems = checks.resolves_to(answer, name, api_service, "K8S-07")
    assert not problems, "; ".join(problems)


# -- services ---------------------------------------------------------------------------------
@pytest.mark.promise("K8S-09")
def test_clusterip_inside_only_and_nodeport_on_every_node(plan, lab, host, k8s, core, probes):
    svc = core.read_namespaced_service("demo", "demo")
    inside = http_get(k8s, probes[plan.workers[0].name], svc.spec.cluster_ip, 80)
    assert "200 OK" in inside, f"K8S-09: ClusterIP {svc.spec.cluster_ip} from a pod: {inside}"
    outside = host(admin_host(lab.plan).name)
    assert outside.run(f"nc -z -w 2 {svc.spec.cluster_ip} 80").rc != 0, "K8S-09: the ClusterIP answers outside the cluster"
    port = core.read_namespaced_service("demo-nodeport", "demo").spec.ports[0].node_port
    assert port == plan.kubernetes.nodeport
    for h in (*plan.masters, *plan.workers):
        address = lab.address(h)
        res = outside.run(f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {address} {port}")
        assert "200 OK" in res.stdout, f"K8S-09: NodePort {port} on {h.name} ({address}): {res.stdout or res.stderr}"


@pytest.mark.promise("K8S-10")
def test_a_pod_reaches_the_outside_through_the_gateways_nat(plan, lab, k8s, probes):
    target = lab.outside_target()
    if target is None:
        pytest.skip(f"the {lab.name} provider names no outside service (outside: in the inventory)")
    # busybox nc's -w does not bound the connect: timeout does.
    answer = exec_in(k8s, probes[plan.workers[0].name], f"timeout 5 nc -w 3 {target.address} {target.port}").strip()
    assert answer, f"K8S-10: no answer from {target.address}:{target.port}"
    if target.expected_source:
        assert answer == target.expected_source, f"K8S-10: the outside saw the pod as {answer}, not the gateway's uplink"


@pytest.mark.promise("K8S-11")
def test_api_server_reaches_every_kubelet_logs_and_exec(plan, k8s, core, probes):
    for w in plan.workers:
        pod = probes[w.name]
        assert exec_in(k8s, pod, "echo exec-works").strip() == "exec-works", f"K8S-11: exec on {w.name}"
        core.read_namespaced_pod_log(pod.metadata.name, pod.metadata.namespace, tail_lines=1)  # raises when it cannot


@pytest.mark.promise("K8S-08")
def test_dashboard():
    # Nothing is pulled from a registry, and neither UI can be built here: the Go module proxy
    # refuses the Dashboard's modules (k8s.io/dashboard/*, github.com/kubernetes/dashboard) and
    # Headlamp's backend, and neither web UI is published on npm (seen December 2026).
    pytest.skip("no dashboard can be built here: the Go module proxy refuses the Kubernetes Dashboard's and Headlamp's "
                "modules, and neither web UI is on npm")


# -- security -----------------------------------------------------------------------------------
@pytest.mark.promise("SEC-02")
def test_no_service_account_is_cluster_admin(k8s):
    rbac = client.RbacAuthorizationV1Api(k8s)
    bound = [f"{b.metadata.name}: {s.namespace}/{s.name}" for b in rbac.list_cluster_role_binding().items
             if b.role_ref.name == "cluster-admin" for s in b.subjects or [] if s.kind == "ServiceAccount"]
    assert not bound, f"SEC-02: service accounts bound to cluster-admin: {bound}"


@pytest.mark.promise("SEC-06")
def test_anonymous_requests_get_health_and_nothing_else(plan, lab):
    vip = str(plan.vip.address)

    def status(path: str) -> int:
        with tunnel_to(lab, vip, plan.vip.port) as t:
            return anonymous_status(t.port, vip, path)

    for path in ("/livez", "/readyz", "/healthz"):
        assert status(path) == 200, f"SEC-06: {path} refused to an anonymous client"
    for path in ("/api/v1/namespaces", "/api/v1/secrets", "/apis"):
        assert status(path) in (401, 403), f"SEC-06: {path} answered an anonymous client"


# -- MetalLB ------------------------------------------------------------------------------------
def metallb_objects(k8s, plural: str, version: str = "v1beta1") -> list[dict]:
    api = client.CustomObjectsApi(k8s)
    try:
        return api.list_namespaced_custom_object("metallb.io", version, "metallb-system", plural)["items"]
    except client.ApiException as exc:
        if exc.status == 404:
            pytest.fail("MetalLB's CRDs are not installed")
        raise


@pytest.mark.promise("MLB-01")
def test_metallb_controller_three_replicas_on_the_masters(plan, k8s, core):
    dep = client.AppsV1Api(k8s).read_namespaced_deployment("controller", "metallb-system")
    assert dep.spec.replicas == plan.metallb.controller_replicas
    tolerated = {t.key for t in dep.spec.template.spec.tolerations or []}
    assert CONTROL_PLANE_LABEL in tolerated, "MLB-01: the controller does not tolerate the control-plane taint"
    every = core.list_namespaced_pod("metallb-system", label_selector="component=controller").items
    pods = [p for p in every if running_ready(p)]
    held = pods_not_ready({"items": [k8s.sanitize_for_serialization(p) for p in every]})
    assert len(pods) == plan.metallb.controller_replicas, f"MLB-01: {len(pods)} controller pods running; {held}"
    assert {p.spec.node_name for p in pods} <= {m.name for m in plan.masters}
    speakers = [p for p in core.list_namespaced_pod("metallb-system", label_selector="component=speaker").items
                if running_ready(p)]
    assert {p.spec.node_name for p in speakers} >= {w.name for w in plan.workers}, "MLB-01: a worker has no speaker"


@pytest.mark.promise("MLB-02")
def test_metallb_pool_default_layer2(plan, k8s):
    pools = {p["metadata"]["name"]: p for p in metallb_objects(k8s, "ipaddresspools")}
    assert plan.metallb.pool in pools, f"MLB-02: pools are {sorted(pools)}"
    assert pools[plan.metallb.pool]["spec"]["addresses"] == [f"{plan.metallb.start}-{plan.metallb.end}"]
    l2 = metallb_objects(k8s, "l2advertisements")
    assert any(plan.metallb.pool in a["spec"].get("ipAddressPools", []) for a in l2), "MLB-02: no layer2 advertisement of the pool"


def load_balancer_ip(lab, core) -> str:
    def assigned():
        ingress = core.read_namespaced_service("demo-lb", "demo").status.load_balancer.ingress
        return ingress[0].ip if ingress else None

    return lab.wait_for("an external IP for demo/demo-lb", assigned, 60, interval=1)


@pytest.mark.promise("MLB-03")
def test_load_balancer_service_gets_an_address_from_the_pool(plan, lab, core):
    ip = ipaddress.ip_address(load_balancer_ip(lab, core))
    assert ipaddress.ip_address(plan.metallb.start) <= ip <= ipaddress.ip_address(plan.metallb.end)


@pytest.mark.promise("MLB-04")
def test_load_balancer_address_answers_from_the_node_subnet(plan, lab, host, core):
    ip = load_balancer_ip(lab, core)
    # A host on the node subnet asks ARP for it; the admin host comes through the gateway.
    for h in (plan.workers[0], admin_host(plan)):
        res = host(h.name).run(f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {ip} 80")
        assert "underhood demo" in res.stdout, f"MLB-04: {ip}:80 from {h.name}: {res.stdout or res.stderr}"
