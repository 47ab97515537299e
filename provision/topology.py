"""The plan as a typed, immutable model, loaded and validated once.

Parsing (types, unknown keys) is pydantic's job; the lab's own rules (overlaps, ranges,
fault tolerance) live in :mod:`provision.validation`. Everything else reads a :class:`Plan`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from provision.errors import PlanError

DEFAULT_PLAN = Path(__file__).with_name("lab.yaml")

#: The gateway's uplink: not a lab subnet, its address comes from the provider.
WAN = "wan"

IPv4 = ipaddress.IPv4Address
Net4 = ipaddress.IPv4Network
Role = Literal["gateway", "loadbalancer", "master", "worker", "gluster", "admin"]
KubeadmTimeout = Literal["controlPlaneComponentHealthCheck", "kubeletHealthCheck", "kubernetesAPICall", "etcdAPICall",
                         "tlsBootstrap", "discovery", "upgradeManifests"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Lab(_Model):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")
    prefix: str = Field(pattern=r"^[a-z][a-z0-9]{0,3}$")
    domain: str
    cidr: Net4
    pod_cidr: Net4
    service_cidr: Net4


class Dhcp(_Model):
    start: IPv4
    end: IPv4
    lease: str = Field(pattern=r"^[0-9]+[smhd]?$")


class Network(_Model):
    cidr: Net4
    gateway: IPv4
    dhcp: Dhcp

    def dhcp_range(self) -> tuple[IPv4, IPv4]:
        return self.dhcp.start, self.dhcp.end


class Dns(_Model):
    upstream: tuple[IPv4, ...]


class Vip(_Model):
    address: IPv4
    network: str
    port: int = Field(ge=1, le=65535)


class MetalLB(_Model):
    pool: str
    protocol: Literal["layer2"]
    network: str
    start: IPv4
    end: IPv4
    controller_replicas: int = Field(ge=1)
    #: The controller's and speakers' readiness probes' timeout: Kubernetes' 1 s by default;
    #: under software emulation their /metrics answered later (libvirt smoke run 21).
    probe_timeout_s: int = Field(default=1, ge=1)


class Versions(_Model):
    debian: str
    kubernetes: str = Field(pattern=r"^1\.[0-9]+\.[0-9]+$")
    kubeadm_api: str
    metallb: str
    flannel: str


class Vagrant(_Model):
    box: str
    #: How many times slower than hardware the VMs answer (software emulation: about 5).
    #: ssh's waits and every bound of a command or a wait are that much longer, in `up`
    #: and in the tests' and scenarios' own runs alike; the budgets of recoveries are not.
    slowdown: float = Field(default=1.0, ge=1.0)


class RoleSpec(_Model):
    cpus: int = Field(ge=1)
    memory_mb: int = Field(ge=128)
    packages: tuple[str, ...] = ()
    store_disk_gb: int | None = None


class Carrier(_Model):
    """Today's Debian package for a package of the documents' Debian 9 (DOC-06)."""

    #: The package that does its job in the plan's Debian, or None when Debian has none.
    package: str | None
    why: str = Field(min_length=1)


class Roles(_Model):
    gateway: RoleSpec
    loadbalancer: RoleSpec
    master: RoleSpec
    worker: RoleSpec
    gluster: RoleSpec
    admin: RoleSpec


class Nic(_Model):
    network: str
    ifname: str = Field(pattern=r"^[a-z][a-z0-9]{0,14}$")
    #: A fixed address, reserved in dnsmasq (dhcp-host); None means a dynamic lease.
    address: IPv4 | None = None


class Host(_Model):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
    role: Role
    nics: tuple[Nic, ...] = Field(min_length=1)

    @property
    def lab_nic(self) -> Nic:
        """The NIC the lab itself uses (the first one that is not the gateway's uplink)."""
        return next(n for n in self.nics if n.network != WAN)

    @property
    def wan_nic(self) -> Nic:
        """The gateway's uplink (the NAT side)."""
        return next(n for n in self.nics if n.network == WAN)

    @property
    def network(self) -> str:
        return self.lab_nic.network


class Corosync(_Model):
    cluster_name: str
    transport: Literal["knet", "udpu", "udp"]
    token: int = Field(ge=100)
    token_retransmits_before_loss_const: int = Field(ge=1)
    crypto_cipher: Literal["none", "aes128", "aes192", "aes256"]
    crypto_hash: Literal["none", "md5", "sha1", "sha256", "sha384", "sha512"]
    two_node: Literal[0, 1]
    expected_votes: int = Field(ge=1)
    port: int = Field(ge=1, le=65535)

    @property
    def consensus(self) -> int:
        """corosync's default consensus timeout: 1.2 x token (corosync.conf(5))."""
        return int(self.token * 1.2)


class Pacemaker(_Model):
    stonith_enabled: bool
    no_quorum_policy: Literal["ignore", "stop", "freeze", "suicide", "demote"]
    resource_stickiness: int
    vip_resource: str
    haproxy_resource: str
    monitor_interval_s: int = Field(ge=1)
    monitor_timeout_s: int = Field(ge=1)
    migration_threshold: int = Field(ge=1)
    dc_deadtime_s: int = Field(ge=1)


class Haproxy(_Model):
    frontend: str
    backend: str
    balance: Literal["roundrobin", "leastconn", "source"]
    fall: int = Field(ge=1)
    rise: int = Field(ge=1)
    timeout_client: str
    timeout_server: str
    timeout_connect: str
    stats_port: int = Field(ge=1, le=65535)
    stats_user: str
    #: How HAProxy checks the API servers: the documents' `tcp` (a port that accepts), or
    #: kubeadm's advice `readyz` (GET /readyz over TLS answers 200); see DOC-07.
    check: Literal["tcp", "readyz"] = "tcp"


class Etcd(_Model):
    client_port: int = Field(ge=1, le=65535)
    peer_port: int = Field(ge=1, le=65535)
    cluster_token: str


class StorageClass(_Model):
    name: str
    provisioner: str
    reclaim_policy: Literal["Retain", "Delete"]
    allow_volume_expansion: bool
    volumetype: str = Field(pattern=r"^replicate:[0-9]+$")

    @field_validator("provisioner")
    @classmethod
    def _csi_driver_name(cls, v: str) -> str:
        # what kubelet and the CSI sidecars know the lab's driver by
        if not re.fullmatch(r"[a-zA-Z0-9]([-.a-zA-Z0-9]{0,61}[a-zA-Z0-9])?", v):
            raise ValueError(f"{v!r} is not a CSI driver's name: up to 63 letters, digits, dots and dashes, beginning and "
                             "ending with a letter or digit, no '/' (e.g. gluster.kube.local)")
        return v


class VolumeService(_Model):
    """The StorageClass's `resturl`: the lab's volume service on every Gluster node, where the
    documents ran Heketi (without authentication; this one requires it, SEC-03)."""

    port: int = Field(ge=1, le=65535)
    user: str = Field(min_length=1)
    #: A claim's brick is BRICK_ROOT/pvc-<uid>/brick on every Gluster node.
    brick_root: str = Field(pattern=r"^/")


class Gluster(_Model):
    volume: str
    replica: int = Field(ge=1)
    brick_dir: str = Field(pattern=r"^/")
    ping_timeout_s: int = Field(ge=1)
    #: cluster.brick-multiplex: every brick of a node in one process (less memory per claim),
    #: or one process per brick (a crashed process takes one volume down, not every claim's).
    brick_multiplex: bool = False
    storage_class: StorageClass
    volume_service: VolumeService = VolumeService(port=8080, user="admin", brick_root="/data/glusterfs")


class LeaderElection(_Model):
    """The controller manager's and the scheduler's leader election (their defaults: 15 s,
    10 s, 2 s). On hosts far slower than hardware a lease renewal outlives the deadline, and
    the component exits ("leaderelection lost") before its controllers run: no DaemonSet pod,
    no pod network, every node NotReady (seen under software emulation)."""

    lease_duration_s: int = Field(ge=1)
    renew_deadline_s: int = Field(ge=1)
    retry_period_s: int = Field(ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> LeaderElection:
        # what both components refuse at start
        if not self.retry_period_s < self.renew_deadline_s < self.lease_duration_s:
            raise ValueError(f"give retry_period_s < renew_deadline_s < lease_duration_s (now {self.retry_period_s}, "
                             f"{self.renew_deadline_s}, {self.lease_duration_s})")
        return self

    def args(self) -> list[tuple[str, str]]:
        """As the components' flags, for kubeadm's extraArgs."""
        return [("leader-elect-lease-duration", f"{self.lease_duration_s}s"), ("leader-elect-renew-deadline", f"{self.renew_deadline_s}s"),
                ("leader-elect-retry-period", f"{self.retry_period_s}s")]


class Kubernetes(_Model):
    api_port: int = Field(ge=1, le=65535)
    coredns_replicas: int = Field(ge=1)
    dashboard_replicas: int = Field(ge=1)
    nodeport: int = Field(ge=30000, le=32767)
    #: kubeadm's dnsDomain: the zone CoreDNS answers for (K8S-07).
    cluster_domain: str = "cluster.local"
    #: kubeadm's imageRepository; None keeps kubeadm's default (registry.k8s.io). The local
    #: provider sets its own, under which it builds every image (nothing is pulled).
    image_repository: str | None = None
    #: Set by the local provider: kubelet and kube-proxy on nodes that are containers.
    nodes_are_containers: bool = False
    #: kubeadm's own timeouts (v1beta4 `timeouts:` of init and join), e.g. {kubernetesAPICall:
    #: 5m0s}; unset ones keep kubeadm's defaults. For hosts far slower than hardware (VMs under
    #: software emulation).
    kubeadm_timeouts: dict[KubeadmTimeout, str] = {}
    #: The controller manager's and the scheduler's leader election; None keeps their defaults.
    leader_election: LeaderElection | None = None
    #: kubeadm's encryptionAlgorithm, the key type of every certificate it issues; None keeps
    #: kubeadm's (RSA-2048). ECDSA-P256 makes each TLS handshake far cheaper where CPUs are
    #: emulated (a master's own components timed out in theirs: libvirt smoke run 12).
    encryption_algorithm: Literal["RSA-2048", "RSA-3072", "RSA-4096", "ECDSA-P256", "ECDSA-P384"] | None = None

    @field_validator("kubeadm_timeouts")
    @classmethod
    def _durations(cls, v: dict[str, str]) -> dict[str, str]:
        for key, value in v.items():
            if not re.fullmatch(r"([0-9]+h)?([0-9]+m)?([0-9]+s)?", value) or not value:
                raise ValueError(f"{key}: {value!r} is not a duration as kubeadm reads it (e.g. 5m0s)")
        return v


class Plan(_Model):
    lab: Lab
    networks: dict[str, Network] = Field(min_length=1)
    dns: Dns
    vip: Vip
    metallb: MetalLB
    versions: Versions
    vagrant: Vagrant
    roles: Roles
    base_packages: tuple[str, ...]
    carriers: dict[str, Carrier] = {}
    hosts: tuple[Host, ...] = Field(min_length=1)
    corosync: Corosync
    pacemaker: Pacemaker
    haproxy: Haproxy
    etcd: Etcd
    gluster: Gluster
    kubernetes: Kubernetes

    # -- derived views: every consumer asks the plan, nobody re-derives -------------------
    def host(self, name: str) -> Host:
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(name)

    def by_role(self, role: str) -> tuple[Host, ...]:
        return tuple(h for h in self.hosts if h.role == role)

    @cached_property
    def gateway(self) -> Host:
        return self.by_role("gateway")[0]

    @cached_property
    def masters(self) -> tuple[Host, ...]:
        return self.by_role("master")

    @cached_property
    def workers(self) -> tuple[Host, ...]:
        return self.by_role("worker")

    @cached_property
    def loadbalancers(self) -> tuple[Host, ...]:
        return self.by_role("loadbalancer")

    @cached_property
    def glusters(self) -> tuple[Host, ...]:
        return self.by_role("gluster")

    def fqdn(self, host: Host | str) -> str:
        name = host if isinstance(host, str) else host.name
        return f"{name}.{self.lab.domain}"

    def fixed_address(self, host: Host) -> IPv4 | None:
        """The host's lab address when the plan fixes it (reserved or gateway)."""
        if host.role == "gateway":
            return self.networks[host.network].gateway
        return host.lab_nic.address

    def role_packages(self, role: str) -> tuple[str, ...]:
        return getattr(self.roles, role).packages

    def documents_packages(self) -> tuple[str, ...]:
        """The union of every role's packages and the base ones, as the documents name them."""
        names = set(self.base_packages)
        for role in Roles.model_fields:
            names.update(self.role_packages(role))
        return tuple(sorted(names))

    def debian_package(self, name: str) -> str | None:
        """The package that carries the documents' ``name`` in the plan's Debian (None: none does)."""
        carrier = self.carriers.get(name)
        return name if carrier is None else carrier.package

    def debian_packages(self, names: tuple[str, ...] | list[str]) -> tuple[str, ...]:
        """What to install for the documents' ``names``: their carriers, sorted, none left out twice."""
        return tuple(sorted({p for n in names if (p := self.debian_package(n)) is not None}))

    def all_packages(self) -> tuple[str, ...]:
        """Every Debian package the plan's hosts get, sorted (image cache key)."""
        return self.debian_packages(self.documents_packages())

    def with_upstream(self, resolvers: list[IPv4]) -> Plan:
        """The same plan with other upstream resolvers (the embedded provider's stub)."""
        return self.model_copy(update={"dns": Dns(upstream=tuple(resolvers))})

    def with_image_repository(self, repository: str) -> Plan:
        """The same plan with kubeadm's images taken from ``repository``: the lab's own build,
        imported into every node (nodes never pull), whatever the nodes are."""
        return self.model_copy(update={"kubernetes": self.kubernetes.model_copy(update={"image_repository": repository})})

    def for_container_nodes(self) -> Plan:
        """The same plan for Kubernetes nodes that are containers (kubelet's and kube-proxy's
        accommodations: no cgroup v1 refusal, conntrack left as the machine has it)."""
        return self.model_copy(update={"kubernetes": self.kubernetes.model_copy(update={"nodes_are_containers": True})})


@dataclass(frozen=True)
class Member:
    """A host of a cluster (corosync, etcd) by name and fixed lab address."""

    name: str
    address: str


def members(hosts: tuple[Host, ...]) -> list[Member]:
    return [Member(h.name, str(h.lab_nic.address)) for h in hosts]


def etcd_fault_tolerance(members: int) -> tuple[int, int]:
    """ETCD-02: (failure tolerance T, majority M) for a cluster of N members."""
    return (members - 1) // 2, members // 2 + 1


def parse(data: object, source: str = "<plan>") -> Plan:
    """Build a Plan from already-loaded YAML data; raise PlanError on the first problem."""
    if not isinstance(data, dict):
        raise PlanError(source, "", data, "the plan must be a YAML mapping (see provision/lab.yaml)")
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        raise PlanError.from_pydantic(source, exc) from None


def load(path: Path | str | None = None, *, check: bool = True) -> Plan:
    """Load a plan file; with ``check`` also apply every rule of provision.validation."""
    path = Path(path) if path else DEFAULT_PLAN
    try:
        text = path.read_text()
    except OSError as exc:
        raise PlanError(
            str(path), "", str(path), f"cannot read the plan ({exc.strerror}); pass an existing file with --plan"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"
        raise PlanError(str(path), where, getattr(exc, "problem", str(exc)), "fix the YAML syntax at that place") from None
    plan = parse(data, str(path))
    if check:
        from provision.validation import validate

        validate(plan, source=str(path))
    return plan
