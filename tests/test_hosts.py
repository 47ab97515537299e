"""HOST-01..07 and K8S-01 (host level): the machines as the documents' images describe them."""

from __future__ import annotations

import pytest
import yaml

from provision import topology
from provision.baseimage import SKIPPED_IN_CONTAINERS
from provision.roles.kubernetes import MODULES_FILE
from provision.roles.master import KUBEADM_CONFIG
from provision.topology import WAN

K8S_SYSCTLS = ("net.ipv4.ip_forward", "net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-arptables")
#: HOST-07: what the documents lay out as logical volumes, so each can grow.
LVM_MOUNTS = ("/var", "/usr", "/tmp", "/opt")
ROLE_PROMISE = {"gateway": "HOST-02", "loadbalancer": "HOST-03", "master": "HOST-04", "worker": "HOST-05", "gluster": "HOST-06"}


def _skipped_here(lab) -> set[str]:
    return set(SKIPPED_IN_CONTAINERS) if lab.hosts_are_containers() else set()


def not_in_containers(lab, why: str) -> None:
    if lab.hosts_are_containers():
        pytest.skip(f"the hosts of this {lab.name} lab are containers: {why}")


def assert_installed(plan, t, name: str, where: str) -> None:
    """The documents' package ``name`` on a host, by its carrier in the plan's Debian."""
    pkg = plan.debian_package(name)
    carried = "" if pkg == name else f" (the carrier of the documents' {name})"
    assert t.package(pkg).is_installed, f"{pkg}{carried} missing on {where}"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One skipped case per documents' package that the plan's Debian does not carry."""
    if "uncarried" not in metafunc.fixturenames:
        return
    plan = topology.load(metafunc.config.getoption("--plan"))
    cases = []
    for scope, names in [("base", plan.base_packages), *((r, plan.role_packages(r)) for r in ROLE_PROMISE)]:
        for name in names:
            if plan.debian_package(name) is None:
                marks = pytest.mark.promise(ROLE_PROMISE.get(scope, "HOST-01"))
                cases.append(pytest.param((name, plan.carriers[name].why), id=f"{scope}-{name}", marks=marks))
    metafunc.parametrize("uncarried", cases)


@pytest.mark.promise("HOST-01")
def test_every_host_runs_the_planned_debian_with_sudo(plan, host, lab):
    for h in plan.hosts:
        t = host(h.name)
        assert t.system_info.distribution == "debian"
        assert t.system_info.codename == plan.versions.debian
        for name in set(plan.base_packages) - _skipped_here(lab):
            if plan.debian_package(name) is not None:
                assert_installed(plan, t, name, h.name)


@pytest.mark.promise("HOST-01")
@pytest.mark.parametrize("name", tuple(SKIPPED_IN_CONTAINERS))
def test_base_package_a_container_has_no_use_for(plan, host, lab, name):
    if name not in plan.base_packages:
        pytest.skip(f"the plan's base_packages do not name {name}")
    not_in_containers(lab, f"{name} has no use there: {SKIPPED_IN_CONTAINERS[name]}")
    for h in plan.hosts:
        assert_installed(plan, host(h.name), name, h.name)


def test_documents_package_the_plans_debian_does_not_carry(uncarried):
    name, why = uncarried
    pytest.skip(f"{name} is not checked: {why}")


#: flannel's VXLAN device, the CNI bridge and the pods' veth ends.
POD_NETWORK_LINKS = ("flannel.", "cni", "veth")


@pytest.mark.promise("HOST-02", "HOST-03", "HOST-04", "HOST-05", "HOST-06")
@pytest.mark.parametrize("role", sorted(ROLE_PROMISE))
def test_role_packages_and_nics(plan, host, lab, role):
    for h in plan.by_role(role):
        t = host(h.name)
        for name in set(plan.role_packages(role)) - _skipped_here(lab):
            if plan.debian_package(name) is not None:
                assert_installed(plan, t, name, h.name)
        # Links the pod network makes on Kubernetes nodes are not NICs of the plan.
        ifnames = {i for i in t.interface.names() if i != "lo" and not i.startswith(POD_NETWORK_LINKS)}
        ifnames -= lab.management_nics(h)  # Vagrant's own NIC 1, which the lab never uses
        assert ifnames == {n.ifname for n in h.nics}, f"{h.name} has {sorted(ifnames)}"
        for nic in h.nics:
            if nic.network != WAN:
                assert t.file(f"/sys/class/net/{nic.ifname}/operstate").content_string.strip() == "up"


@pytest.mark.promise("HOST-02", "HOST-03", "HOST-04", "HOST-05", "HOST-06")
def test_cpu_and_memory_of_each_machine(plan, host, lab):
    not_in_containers(lab, "they share the machine's CPUs and memory; sizes are checked on VMs")
    for h in plan.hosts:
        spec = getattr(plan.roles, h.role)
        t = host(h.name)
        assert int(t.check_output("nproc")) == spec.cpus
        mem_mib = int(t.check_output("awk '/MemTotal/ {print $2}' /proc/meminfo")) / 1024
        # MemTotal is what the kernel leaves after its own reservations (about 50 MiB)
        low = spec.memory_mb - max(spec.memory_mb * 0.1, 64)
        assert low <= mem_mib <= spec.memory_mb, f"{h.name}: {mem_mib:.0f} MiB for the plan's {spec.memory_mb}"


@pytest.mark.promise("HOST-06", "HOST-07")
def test_store_disk_and_lvm_layout(plan, host, lab):
    not_in_containers(lab, "they have no disks of their own (no store disk, no LVM); checked on VMs")
    for g in plan.glusters:
        assert host(g.name).run("lsblk -o NAME,TYPE").stdout.count("disk") >= 2
    for h in plan.hosts:
        t = host(h.name)
        assert t.exists("lvs"), f"{h.name} has no LVM tools (lvm2), so no logical volumes"
        volumes = {t.check_output("readlink -f %s", v) for v in t.check_output("lvs --noheadings -o lv_dm_path").split()}
        for mount in LVM_MOUNTS:
            point = t.mount_point(mount)
            assert point.exists, f"{mount} is not a file system of its own on {h.name}"
            device = t.check_output("readlink -f %s", point.device)
            assert device in volumes, f"{mount} on {h.name} is {point.device}, not a logical volume ({sorted(volumes)})"


@pytest.mark.promise("K8S-01")
def test_kubernetes_nodes_have_br_netfilter_and_forwarding(plan, host, lab):
    for h in (*plan.masters, *plan.workers):
        t = host(h.name)
        assert t.file("/sys/module/br_netfilter").exists or t.file("/proc/sys/net/bridge").exists
        assert "br_netfilter" in t.file(MODULES_FILE).content_string
        for key in K8S_SYSCTLS:
            assert t.sysctl(key) == 1, f"{key} on {h.name}"


@pytest.mark.promise("SEC-07")
def test_control_plane_certificates_are_not_copied_by_hand(plan, host, lab):
    first = host(plan.masters[0].name)
    if not first.exists("kubeadm"):
        pytest.skip(f"kubeadm is not installed on {plan.masters[0].name}: the {lab.name} provider builds no Kubernetes yet")
    for m in plan.masters:
        assert not host(m.name).file("/root/bin/copy-certificates.sh").exists
    assert "--upload-certs" in first.check_output("cat /etc/kubernetes/kubeadm-init.args")


@pytest.mark.promise("K8S-02")
def test_kubeadm_configuration_on_the_masters(plan, host, lab):
    """Host side of K8S-02: the configuration kubeadm is given on every master."""
    for m in plan.masters:
        docs = {d["kind"]: d for d in yaml.safe_load_all(host(m.name).file(KUBEADM_CONFIG).content_string)}
        cc = docs["ClusterConfiguration"]
        found = (cc["controlPlaneEndpoint"], cc["apiServer"]["certSANs"], cc["networking"]["podSubnet"])
        want = (f"{plan.vip.address}:{plan.vip.port}", [str(plan.vip.address)], str(plan.lab.pod_cidr))
        assert found == want, f"K8S-02: {m.name}: kubeadm is given {found}, the plan says {want}"
        assert docs["InitConfiguration"]["localAPIEndpoint"]["advertiseAddress"] == str(m.lab_nic.address)
