"""Every rendered file: its content against the plan, then the real tool where one exists."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from provision import roles, topology
from provision.errors import PlanError
from provision.roles import addons, gateway, gluster, loadbalancer, master
from provision.secrets import Secrets
from selftests.conftest import need_tool

PLAN = topology.load()
SECRETS = Secrets.generate()


def files_of(host_name: str) -> dict[str, str | bytes]:
    host = PLAN.host(host_name)
    return {f.path: f.content for f in roles.files_for(PLAN, host, SECRETS)}


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw)


def needs_root():
    import os

    if os.geteuid() != 0:
        pytest.skip("needs root for a private namespace (unshare)")


# -- gateway ------------------------------------------------------------------------------
def test_dnsmasq_config_has_the_documents_options_and_every_subnet():
    f = files_of(PLAN.gateway.name)
    dns, dhcp, upstream = f["/etc/dnsmasq.d/dns"], f["/etc/dnsmasq.d/dhcp"], f["/etc/dnsmasq.d/resolv-file"]
    for opt in ("domain-needed", "bogus-priv", "bind-interfaces", f"domain={PLAN.lab.domain}"):
        assert opt in dns.splitlines()
    for server in PLAN.dns.upstream:
        assert f"server={server}" in upstream.splitlines()
    for nic in PLAN.gateway.nics:
        if nic.network == topology.WAN:
            assert f"interface={nic.ifname}" not in dns
            continue
        net = PLAN.networks[nic.network]
        assert f"dhcp-range={nic.ifname},{net.dhcp.start},{net.dhcp.end},{net.cidr.netmask},{net.dhcp.lease}" in dhcp
        for opt in ("dns-server", "router"):
            assert f"dhcp-option={nic.ifname},option:{opt},{net.gateway}" in dhcp
        assert f"option:classless-static-route,0.0.0.0/0,{net.gateway}" in dhcp
    for name, address in gateway.reservations(PLAN):
        assert f"dhcp-host={name},{address}," in dhcp


def test_dnsmasq_accepts_the_rendered_config(tmp_path):
    dnsmasq = need_tool("dnsmasq")
    f = files_of(PLAN.gateway.name)
    conf = tmp_path / "dnsmasq.conf"
    conf.write_text("".join(f[p] for p in ("/etc/dnsmasq.d/dns", "/etc/dnsmasq.d/resolv-file", "/etc/dnsmasq.d/dhcp")))
    res = run([dnsmasq, "--test", f"--conf-file={conf}"])
    assert res.returncode == 0, res.stderr
    conf.write_text(conf.read_text() + "dhcp-range=nonsense\n")
    assert run([dnsmasq, "--test", f"--conf-file={conf}"]).returncode != 0


def test_gateway_sysctl_and_rules_apply_in_a_private_namespace(tmp_path):
    needs_root()
    need_tool("iptables-restore")
    f = files_of(PLAN.gateway.name)
    assert "net.ipv4.ip_forward=1" in f["/etc/sysctl.d/10-gateway.conf"]
    (tmp_path / "sysctl.conf").write_text(f["/etc/sysctl.d/10-gateway.conf"])
    (tmp_path / "rules.v4").write_text(f["/etc/iptables/rules.v4"])
    wan = next(n.ifname for n in PLAN.gateway.nics if n.network == topology.WAN)
    assert f"-A POSTROUTING -o {wan} -j MASQUERADE" in f["/etc/iptables/rules.v4"]
    # A fresh network namespace: nothing of this machine's own network is touched.
    script = f"sysctl -q -p {tmp_path}/sysctl.conf && iptables-restore --test {tmp_path}/rules.v4"
    res = run(["unshare", "--net", "sh", "-c", script])
    assert res.returncode == 0, res.stderr


# -- load balancer pair ---------------------------------------------------------------------
def test_haproxy_cfg_matches_the_plan_and_haproxy_accepts_it(tmp_path):
    lb = PLAN.loadbalancers[0]
    cfg = files_of(lb.name)["/etc/haproxy/haproxy.cfg"]
    h = PLAN.haproxy
    assert f"frontend {h.frontend}" in cfg and f"bind *:{PLAN.vip.port}" in cfg
    assert f"balance {h.balance}" in cfg and "option tcp-check" in cfg
    for m in PLAN.masters:
        assert f"server {m.name} {m.name}:{PLAN.kubernetes.api_port} check resolvers dns fall {h.fall} rise {h.rise}" in cfg
    assert f"nameserver dns-01 {PLAN.networks[lb.network].gateway}:53" in cfg
    assert f"bind *:{h.stats_port}" in cfg
    assert f"stats auth {h.stats_user}:{SECRETS.haproxy_stats_password}" in cfg
    assert "admin:admin" not in cfg  # SEC-01
    haproxy = need_tool("haproxy")
    path = tmp_path / "haproxy.cfg"
    path.write_text(cfg)
    res = run([haproxy, "-c", "-f", str(path)])
    assert res.returncode == 0, res.stderr
    path.write_text(cfg.replace("mode tcp", "mode nonsense", 1))
    assert run([haproxy, "-c", "-f", str(path)]).returncode != 0


def test_haproxy_readyz_check_is_kubeadms_and_haproxy_accepts_it(tmp_path):
    from provision.roles.loadbalancer import haproxy_cfg

    alt = PLAN.model_copy(update={"haproxy": PLAN.haproxy.model_copy(update={"check": "readyz"})})
    cfg = haproxy_cfg(alt, alt.loadbalancers[0], "secret")
    assert "option httpchk GET /readyz" in cfg and "http-check expect status 200" in cfg and "option tcp-check" not in cfg
    for m in PLAN.masters:
        assert f"server {m.name} {m.name}:{PLAN.kubernetes.api_port} check check-ssl verify none resolvers dns" in cfg
    path = tmp_path / "haproxy.cfg"
    path.write_text(cfg)
    res = run([need_tool("haproxy"), "-c", "-f", str(path)])
    assert res.returncode == 0, res.stderr


def test_corosync_conf_matches_the_plan_and_corosync_accepts_it(tmp_path):
    lb = PLAN.loadbalancers[0]
    f = files_of(lb.name)
    conf = f["/etc/corosync/corosync.conf"]
    c = PLAN.corosync
    for line in (
        f"cluster_name: {c.cluster_name}",
        f"token: {c.token}",
        f"token_retransmits_before_loss_const: {c.token_retransmits_before_loss_const}",
        f"crypto_cipher: {c.crypto_cipher}",
        f"crypto_hash: {c.crypto_hash}",
        f"two_node: {c.two_node}",
        f"expected_votes: {c.expected_votes}",
    ):
        assert line in conf
    for m in loadbalancer.members(PLAN):
        assert f"ring0_addr: {m.address}" in conf
    assert f["/etc/corosync/authkey"] == SECRETS.corosync_authkey
    needs_root()
    corosync = need_tool("corosync")
    keydir = tmp_path / "etc-corosync"
    keydir.mkdir()
    (keydir / "authkey").write_bytes(SECRETS.corosync_authkey)
    (keydir / "authkey").chmod(0o400)
    (tmp_path / "corosync.conf").write_text(conf)
    # corosync -t wants its own ring address and the authkey: give it both in private
    # namespaces (the node's address on a private loopback, the key at its usual path).
    script = (
        f"ip link set dev lo up && ip addr add {lb.lab_nic.address}/32 dev lo && "
        f"mount --bind {keydir} /etc/corosync && {corosync} -t -c {tmp_path}/corosync.conf"
    )
    res = run(["unshare", "--net", "--mount", "sh", "-c", script])
    assert res.returncode == 0, res.stdout + res.stderr


def test_crm_configuration_loads_into_a_cib_and_verifies(tmp_path):
    lb = PLAN.loadbalancers[0]
    text = files_of(lb.name)[loadbalancer.CRM_FILE]
    p = PLAN.pacemaker
    need_tool("crm")
    need_tool("crm_verify")
    cib = tmp_path / "cib.xml"
    cib.write_text(run(["cibadmin", "--empty"]).stdout)
    crm = tmp_path / "crm.txt"
    crm.write_text(text)
    env = {"CIB_file": str(cib), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    # -F: systemd:haproxy has no metadata where systemd is not PID 1 (here); the
    # configuration still goes through crmsh's parser and pacemaker's verifier below.
    res = run(["crm", "-F", "configure", "load", "update", str(crm)], env=env)
    assert res.returncode == 0, res.stderr
    res = run(["crm_verify", "-x", str(cib)])
    assert res.returncode == 0, res.stdout + res.stderr
    root = ET.parse(cib).getroot()
    nvpairs = {nv.get("name"): nv.get("value") for nv in root.iter("nvpair")}
    assert nvpairs["stonith-enabled"] == "false"
    assert nvpairs["no-quorum-policy"] == p.no_quorum_policy
    assert nvpairs["resource-stickiness"] == str(p.resource_stickiness)
    assert nvpairs["ip"] == str(PLAN.vip.address) and nvpairs["cidr_netmask"] == "32"
    assert nvpairs["nic"] == lb.lab_nic.ifname
    assert nvpairs["migration-threshold"] == str(p.migration_threshold)
    prims = {r.get("id"): r for r in root.iter("primitive")}
    assert set(prims) == {p.vip_resource, p.haproxy_resource}
    for r in prims.values():
        mon = next(op for op in r.iter("op") if op.get("name") == "monitor")
        assert mon.get("interval") == f"{p.monitor_interval_s}s" and mon.get("on-fail") == "restart"
    col = next(root.iter("rsc_colocation"))
    assert col.get("score") == "INFINITY" and {col.get("rsc"), col.get("with-rsc")} == set(prims)
    order = next(root.iter("rsc_order"))
    assert (order.get("first"), order.get("then")) == (p.vip_resource, p.haproxy_resource)


def test_crm_refuses_a_broken_configuration(tmp_path):
    need_tool("crm")
    cib = tmp_path / "cib.xml"
    cib.write_text(run(["cibadmin", "--empty"]).stdout)
    crm = tmp_path / "crm.txt"
    crm.write_text("primitive broken ocf:heartbeat:IPaddr2 params\ncolocation x inf: nothing\n")
    res = run(["crm", "configure", "load", "update", str(crm)], env={"CIB_file": str(cib), "PATH": "/usr/sbin:/usr/bin"})
    assert res.returncode != 0


# -- masters and workers --------------------------------------------------------------------
def test_etcd_is_stacked_as_the_documents_have_it():
    """kubeadm runs a member on each master (no external etcd, no systemd etcd beside it)."""
    docs = {d["kind"]: d for d in yaml.safe_load_all(files_of(PLAN.masters[0].name)[master.KUBEADM_CONFIG])}
    assert "external" not in docs["ClusterConfiguration"].get("etcd", {})
    assert all("/etc/default/etcd" not in files_of(m.name) for m in PLAN.masters)
    assert all(u.startswith("https://") for u in master.etcd_endpoints(PLAN))


@pytest.mark.parametrize("role", ["master", "worker"])
def test_join_configuration_goes_through_the_vip(role, tmp_path):
    from provision.roles.kubernetes import join_config
    from provision.secrets import Secrets

    host = PLAN.masters[1] if role == "master" else PLAN.workers[0]
    secrets = Secrets.load_or_create(tmp_path)
    doc = yaml.safe_load(join_config(PLAN, host, "192.168.2.77", secrets, "sha256:" + "0" * 64).content)
    token = doc["discovery"]["bootstrapToken"]
    assert token["apiServerEndpoint"] == f"{PLAN.vip.address}:{PLAN.vip.port}"
    assert token["token"] == secrets.bootstrap_token and token["caCertHashes"] == ["sha256:" + "0" * 64]
    assert {"name": "node-ip", "value": "192.168.2.77"} in doc["nodeRegistration"]["kubeletExtraArgs"]
    if role == "master":
        assert doc["controlPlane"]["certificateKey"] == secrets.certificate_key
    else:
        assert "controlPlane" not in doc


def test_bootstrap_token_has_kubeadms_format(tmp_path):
    import re

    from provision.secrets import Secrets

    s = Secrets.load_or_create(tmp_path)
    assert re.fullmatch(r"[a-z0-9]{6}\.[a-z0-9]{16}", s.bootstrap_token)
    assert re.fullmatch(r"[0-9a-f]{64}", s.certificate_key)
    assert Secrets.load_or_create(tmp_path) == s


def test_kubeadm_configuration_v1beta4_from_the_plan():
    m = PLAN.masters[0]
    docs = list(yaml.safe_load_all(files_of(m.name)[master.KUBEADM_CONFIG]))
    kinds = {d["kind"]: d for d in docs}
    assert {d["apiVersion"] for d in docs if d["kind"].endswith("Configuration") and d["kind"][:4] in ("Init", "Clus")} == {
        PLAN.versions.kubeadm_api}
    assert kinds["KubeletConfiguration"]["cgroupDriver"] == "systemd"
    assert kinds["KubeProxyConfiguration"]["mode"] == "iptables"
    # Only nodes that are containers on a cgroup v1 machine need these.
    assert "failCgroupV1" not in kinds["KubeletConfiguration"] and "conntrack" not in kinds["KubeProxyConfiguration"]
    cc = kinds["ClusterConfiguration"]
    assert cc["controlPlaneEndpoint"] == f"{PLAN.vip.address}:{PLAN.vip.port}"
    assert str(PLAN.vip.address) in cc["apiServer"]["certSANs"]
    assert cc["networking"]["podSubnet"] == str(PLAN.lab.pod_cidr)
    assert cc["kubernetesVersion"] == f"v{PLAN.versions.kubernetes}"
    init = kinds["InitConfiguration"]
    assert init["localAPIEndpoint"]["advertiseAddress"] == str(m.lab_nic.address)
    # v1beta4 writes extra args as a list of name/value pairs
    assert {"name": "node-ip", "value": str(m.lab_nic.address)} in init["nodeRegistration"]["kubeletExtraArgs"]


def test_kubeadm_timeouts_from_the_plan_reach_init_and_join(tmp_path):
    from provision.roles.kubernetes import join_config
    from provision.steps.cluster import kubeadm_timeout_s

    assert "timeouts" not in next(yaml.safe_load_all(files_of(PLAN.masters[0].name)[master.KUBEADM_CONFIG]))
    assert kubeadm_timeout_s(PLAN) == 600
    slow = PLAN.model_copy(update={"kubernetes": PLAN.kubernetes.model_copy(
        update={"kubeadm_timeouts": {"kubernetesAPICall": "5m0s", "tlsBootstrap": "1h"}})})
    config = next(f.content for f in roles.files_for(slow, slow.masters[0], Secrets.generate()) if f.path == master.KUBEADM_CONFIG)
    init = next(d for d in yaml.safe_load_all(config) if d["kind"] == "InitConfiguration")
    join = yaml.safe_load(join_config(slow, slow.workers[0], "192.168.2.77", Secrets.generate(), "sha256:" + "0" * 64).content)
    assert init["timeouts"] == join["timeouts"] == {"kubernetesAPICall": "5m0s", "tlsBootstrap": "1h"}
    assert kubeadm_timeout_s(slow) == 600 + 300 + 3600


def test_leader_election_from_the_plan_reaches_the_controller_manager_and_the_scheduler(raw, tmp_path):
    cc = next(d for d in yaml.safe_load_all(files_of(PLAN.masters[0].name)[master.KUBEADM_CONFIG]) if d["kind"] == "ClusterConfiguration")
    assert "controllerManager" not in cc and "scheduler" not in cc  # their defaults
    raw["kubernetes"]["leader_election"] = {"lease_duration_s": 75, "renew_deadline_s": 50, "retry_period_s": 10}
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(raw))
    slow = topology.load(tmp_path / "plan.yaml")
    config = next(f.content for f in roles.files_for(slow, slow.masters[0], Secrets.generate()) if f.path == master.KUBEADM_CONFIG)
    cc = next(d for d in yaml.safe_load_all(config) if d["kind"] == "ClusterConfiguration")
    want = [{"name": "leader-elect-lease-duration", "value": "75s"}, {"name": "leader-elect-renew-deadline", "value": "50s"},
            {"name": "leader-elect-retry-period", "value": "10s"}]
    assert cc["controllerManager"]["extraArgs"] == cc["scheduler"]["extraArgs"] == want
    # what the components would refuse at start is refused in the plan, by name
    raw["kubernetes"]["leader_election"] = {"lease_duration_s": 10, "renew_deadline_s": 50, "retry_period_s": 2}
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(PlanError) as caught:
        topology.load(tmp_path / "plan.yaml")
    assert caught.value.path.startswith("kubernetes.leader_election") and "renew_deadline_s < lease_duration_s" in str(caught.value)


def test_the_plans_key_type_reaches_kubeadm_and_a_wrong_one_is_refused_by_name(raw, tmp_path):
    cc = next(d for d in yaml.safe_load_all(files_of(PLAN.masters[0].name)[master.KUBEADM_CONFIG]) if d["kind"] == "ClusterConfiguration")
    assert "encryptionAlgorithm" not in cc  # kubeadm's own default
    raw["kubernetes"]["encryption_algorithm"] = "ECDSA-P256"
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(raw))
    cheap = topology.load(tmp_path / "plan.yaml")
    config = next(f.content for f in roles.files_for(cheap, cheap.masters[0], Secrets.generate()) if f.path == master.KUBEADM_CONFIG)
    assert next(d for d in yaml.safe_load_all(config) if d["kind"] == "ClusterConfiguration")["encryptionAlgorithm"] == "ECDSA-P256"
    raw["kubernetes"]["encryption_algorithm"] = "ed25519"
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(PlanError) as caught:
        topology.load(tmp_path / "plan.yaml")
    assert caught.value.path == "kubernetes.encryption_algorithm"


@pytest.mark.parametrize(("timeouts", "path"), [({"kubernetesApiCall": "5m"}, "kubernetes.kubeadm_timeouts.kubernetesApiCall"),
                                                ({"discovery": "five minutes"}, "kubernetes.kubeadm_timeouts")])
def test_a_bad_kubeadm_timeout_is_refused_naming_it(raw, tmp_path, timeouts, path):
    raw["kubernetes"]["kubeadm_timeouts"] = timeouts
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(PlanError) as caught:
        topology.load(tmp_path / "plan.yaml")
    assert caught.value.path.startswith(path), str(caught.value)


@pytest.mark.parametrize("host", [PLAN.masters[0].name, PLAN.workers[0].name])
def test_kubernetes_node_files_k8s01(host, tmp_path):
    f = files_of(host)
    assert f["/etc/modules-load.d/bridge.conf"].splitlines()[-1] == "br_netfilter"
    sysctl = f["/etc/sysctl.d/10-kubernetes.conf"]
    for key in ("net.ipv4.ip_forward=1", "net.bridge.bridge-nf-call-iptables=1", "net.bridge.bridge-nf-call-arptables=1"):
        assert key in sysctl.splitlines()
    if not Path("/proc/sys/net/bridge").exists():
        pytest.skip("br_netfilter is not loaded on this machine: the bridge sysctls cannot be applied here")
    needs_root()
    (tmp_path / "k.conf").write_text(sysctl)
    assert run(["unshare", "--net", "sysctl", "-q", "-p", str(tmp_path / "k.conf")]).returncode == 0


# -- add-ons and storage --------------------------------------------------------------------
def _validate_k8s(obj: dict) -> None:
    version = kubernetes_validate.latest_version()
    kubernetes_validate.validate(obj, version, strict=True)


def _storage_objects() -> dict[str, dict]:
    return {d["kind"]: d for d in yaml.safe_load_all(gluster.storage_class(PLAN))}


def test_storage_class_is_a_valid_object_from_the_plan():
    objects = _storage_objects()
    for obj in objects.values():
        _validate_k8s(obj)
    sc, driver = objects["StorageClass"], objects["CSIDriver"]
    want = PLAN.gluster.storage_class
    assert sc["metadata"]["name"] == want.name
    assert sc["provisioner"] == driver["metadata"]["name"] == want.provisioner
    assert sc["allowVolumeExpansion"] is want.allow_volume_expansion
    assert sc["reclaimPolicy"] == want.reclaim_policy
    params = sc["parameters"]
    assert params["volumetype"] == f"replicate:{PLAN.gluster.replica}"
    assert params["resturl"] == gluster.resturl(PLAN) == f"http://{PLAN.fqdn(PLAN.glusters[0])}:{PLAN.gluster.volume_service.port}"
    # the sidecars hand the volume service's credentials to the driver on create and expand
    namespace, secret = gluster.CREDENTIALS
    for use in ("provisioner", "controller-expand"):
        assert (params[f"csi.storage.k8s.io/{use}-secret-namespace"], params[f"csi.storage.k8s.io/{use}-secret-name"]) == (namespace, secret)


def test_a_provisioner_that_is_no_csi_driver_name_is_refused_naming_it(raw, tmp_path):
    raw["gluster"]["storage_class"]["provisioner"] = "gluster.kube.local/replicated"
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(PlanError) as caught:
        topology.load(tmp_path / "plan.yaml")
    assert caught.value.path == "gluster.storage_class.provisioner" and "no '/'" in str(caught.value)


def test_invalid_k8s_object_is_refused():
    sc = _storage_objects()["StorageClass"]
    sc["reclaimPolicy"] = ["not", "a", "string"]
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate_k8s(sc)


def test_gluster_volume_has_one_brick_per_node():
    args = gluster.volume_create_args(PLAN)
    bricks = [a for a in args if ":" in a]
    assert args[:5] == ["volume", "create", PLAN.gluster.volume, "replica", str(PLAN.gluster.replica)]
    assert [b.split(":")[0] for b in bricks] == [PLAN.fqdn(h) for h in PLAN.glusters]
    assert gluster.volume_options(PLAN)["network.ping-timeout"] == str(PLAN.gluster.ping_timeout_s)


def test_metallb_pool_and_advertisement():
    pool, adv = list(yaml.safe_load_all(addons.metallb(PLAN)))
    assert pool["kind"] == "IPAddressPool" and adv["kind"] == "L2Advertisement"
    assert pool["apiVersion"] == adv["apiVersion"] == "metallb.io/v1beta1"
    assert pool["spec"]["addresses"] == [f"{PLAN.metallb.start}-{PLAN.metallb.end}"]
    assert adv["spec"]["ipAddressPools"] == [PLAN.metallb.pool] == [pool["metadata"]["name"]]


def test_coredns_patch_merged_onto_a_deployment_is_valid():
    patch = yaml.safe_load(addons.coredns_patch(PLAN))
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "coredns", "namespace": "kube-system"},
        "spec": {
            "selector": {"matchLabels": {"k8s-app": "kube-dns"}},
            "template": {
                "metadata": {"labels": {"k8s-app": "kube-dns"}},
                "spec": {"containers": [{"name": "coredns", "image": "coredns"}]},
            },
        },
    }
    deployment["spec"]["replicas"] = patch["spec"]["replicas"]
    deployment["spec"]["template"]["spec"].update(patch["spec"]["template"]["spec"])
    _validate_k8s(deployment)
    assert deployment["spec"]["replicas"] == PLAN.kubernetes.coredns_replicas
    assert "node-role.kubernetes.io/control-plane" in deployment["spec"]["template"]["spec"]["nodeSelector"]


@pytest.mark.parametrize("name", ["flannel", "demo", "demo-records", "metallb-system"])
def test_addon_manifests_are_valid_objects(name):
    text = {
        "flannel": lambda: addons.flannel(PLAN, "registry.underhood.invalid/flannel:v1"),
        "demo": lambda: addons.demo(PLAN, "registry.underhood.invalid/busybox:1"),
        "demo-records": lambda: addons.demo_records(PLAN, "registry.underhood.invalid/busybox:1"),
        "metallb-system": lambda: addons.metallb_system(PLAN, "r.invalid/c:1", "r.invalid/s:1"),
    }[name]()
    docs = [d for d in yaml.safe_load_all(text) if d]
    assert docs
    for doc in docs:
        _validate_k8s(doc)


def test_flannel_is_pinned_to_the_lab_nic_and_the_pod_cidr():
    docs = {d["kind"]: d for d in yaml.safe_load_all(addons.flannel(PLAN, "x.invalid/flannel:v1"))}
    net = yaml.safe_load(docs["ConfigMap"]["data"]["net-conf.json"])
    assert net == {"Network": str(PLAN.lab.pod_cidr), "Backend": {"Type": "vxlan"}}
    command = docs["DaemonSet"]["spec"]["template"]["spec"]["containers"][0]["command"]
    assert {f"--iface={h.lab_nic.ifname}" for h in (*PLAN.masters, *PLAN.workers)} <= set(command)


def test_demo_nodeport_and_metallb_controller_placement():
    demo = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(addons.demo(PLAN, "x.invalid/b:1"))}
    assert demo[("Service", "demo-nodeport")]["spec"]["ports"][0]["nodePort"] == PLAN.kubernetes.nodeport
    assert demo[("Service", "demo-lb")]["spec"]["type"] == "LoadBalancer"
    # kept spread by the scheduler itself: a dead worker's pods go evenly to the live ones
    # (its taints take it out of the count) and a rollout spreads its own pods
    spread = demo[("Deployment", "demo")]["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert [(c["whenUnsatisfiable"], c["nodeTaintsPolicy"], c["matchLabelKeys"]) for c in spread] == \
        [("DoNotSchedule", "Honor", ["pod-template-hash"])]
    mlb = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(addons.metallb_system(PLAN, "c", "s"))}
    controller = mlb[("Deployment", "controller")]["spec"]
    assert controller["replicas"] == PLAN.metallb.controller_replicas
    assert controller["template"]["spec"]["nodeSelector"] == {"node-role.kubernetes.io/control-plane": ""}
    speaker = mlb[("DaemonSet", "speaker")]["spec"]
    probes = [c["readinessProbe"] for s in (controller, speaker) for c in s["template"]["spec"]["containers"]]
    assert [p["timeoutSeconds"] for p in probes] == [PLAN.metallb.probe_timeout_s] * 2 == [1, 1]  # Kubernetes' default


def test_the_smoke_plan_gives_metallbs_probes_the_emulations_time():
    from provision.providers.vagrant.smoke import EMULATION_SLOWDOWN, smoke_plan_data

    data = smoke_plan_data(yaml.safe_load(topology.DEFAULT_PLAN.read_text()))
    mlb = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(addons.metallb_system(topology.parse(data), "c", "s"))}
    probe = mlb[("DaemonSet", "speaker")]["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    assert probe["timeoutSeconds"] == EMULATION_SLOWDOWN
