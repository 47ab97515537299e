"""Gluster nodes: glusterd, the trusted pool and one replicated volume; the volume service
that makes a replicated volume per claim (the StorageClass's resturl); its StorageClass."""

from __future__ import annotations

import json
from pathlib import Path

from provision.render import File, render
from provision.secrets import Secrets
from provision.topology import Host, Plan


def volume_create_args(plan: Plan) -> list[str]:
    """`gluster volume create` arguments: one brick per Gluster node, replica N."""
    g = plan.gluster
    bricks = [f"{plan.fqdn(h)}:{g.brick_dir}" for h in plan.glusters]
    return ["volume", "create", g.volume, "replica", str(g.replica), *bricks]


def volume_options(plan: Plan) -> dict[str, str]:
    """Options of every volume: the plan's, and the claims' (the volume service sets them)."""
    return {"network.ping-timeout": str(plan.gluster.ping_timeout_s)}


def cluster_options(plan: Plan) -> dict[str, str]:
    """Options of the whole pool (`gluster volume set all`), as `gluster volume get` shows them."""
    return {"cluster.brick-multiplex": "enable" if plan.gluster.brick_multiplex else "disable"}


#: The Secret holding the volume service's user and key, where the CSI sidecars read it.
CREDENTIALS = ("kube-system", "gluster-volume-service")


def storage_class(plan: Plan) -> str:
    """The CSIDriver object and the StorageClass on it (the credentials' Secret is apart:
    it carries the key)."""
    return render("gluster", "storageclass.yaml.j2", sc=plan.gluster.storage_class, resturl=resturl(plan),
                  namespace=CREDENTIALS[0], secret=CREDENTIALS[1])


SERVICE_UNIT = "gluster-volumes.service"
SERVICE_PROGRAM = "/usr/local/lib/gluster-volumes/volume_service.py"
SERVICE_CONFIG = "/etc/gluster-volumes/config.json"
QUOTA_WATCH_UNIT = "gluster-quota-watch.service"
QUOTA_WATCH_PROGRAM = "/usr/local/lib/gluster-volumes/quota_watch.py"


def resturl(plan: Plan) -> str:
    """The StorageClass's resturl: the first Gluster node's volume service."""
    return f"http://{plan.fqdn(plan.glusters[0])}:{plan.gluster.volume_service.port}"


def service_config(plan: Plan, host: Host, secrets: Secrets) -> dict:
    vs = plan.gluster.volume_service
    return {"node": plan.fqdn(host), "nodes": [plan.fqdn(h) for h in plan.glusters], "interface": host.lab_nic.ifname,
            "port": vs.port, "user": vs.user, "key": secrets.volume_service_key, "brick_root": vs.brick_root,
            "replica": plan.gluster.replica, "options": volume_options(plan)}


def files(plan: Plan, host: Host, secrets: Secrets) -> list[File]:
    # glusterd needs no file of ours (its unit orders itself before network-online.target,
    # so it must not be made to wait for it); the pool and volume are cross-host steps.
    program = (Path(__file__).parent / "volume_service.py").read_text()
    return [
        File(SERVICE_PROGRAM, program, "0755"),
        File(SERVICE_CONFIG, json.dumps(service_config(plan, host, secrets), indent=2) + "\n", "0600"),
        File(f"/etc/systemd/system/{SERVICE_UNIT}", render("gluster", "gluster-volumes.service.j2",
                                                            program=SERVICE_PROGRAM, config=SERVICE_CONFIG)),
        File(QUOTA_WATCH_PROGRAM, (Path(__file__).parent / "quota_watch.py").read_text(), "0755"),
        File(f"/etc/systemd/system/{QUOTA_WATCH_UNIT}", render("gluster", "gluster-quota-watch.service.j2", program=QUOTA_WATCH_PROGRAM)),
    ]


# -- the CSI driver --------------------------------------------------------------------------
#: Where the driver's and the sidecars' binaries are linked on the nodes.
CSI_BIN = "/usr/local/bin"
#: The sidecars' service account, and their kubeconfig (its token) on the masters.
CSI_ACCOUNT = "gluster-csi"
CSI_KUBECONFIG = "/etc/gluster-csi/kubeconfig"
CSI_CONTROLLER_SOCKET = "/run/gluster-csi/controller.sock"
CSI_CONTROLLER_UNIT = "gluster-csi-controller.service"
CSI_NODE_UNIT = "gluster-csi-node.service"
CSI_SIDECARS = ("csi-provisioner", "csi-resizer")
#: The sidecars' bound on one call: the driver's own (a create waits for glusterd's lock
#: and for bricks on every node).
CSI_CALL_S = 180


def csi_node_socket(plan: Plan) -> str:
    """The node plugin's socket, where kubelet's plugin watcher is told to find it."""
    return f"/var/lib/kubelet/plugins/{plan.gluster.storage_class.provisioner}/csi.sock"


def csi_rbac(plan: Plan) -> str:
    return render("gluster", "csi-rbac.yaml.j2", account=CSI_ACCOUNT, namespace=CREDENTIALS[0], credentials=CREDENTIALS[1])


def csi_credentials(plan: Plan, secrets: Secrets) -> str:
    """The Secret with the volume service's user and key: applied from stdin, never written
    to a node's disk."""
    namespace, name = CREDENTIALS
    return json.dumps({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                       "metadata": {"name": name, "namespace": namespace},
                       "stringData": {"user": plan.gluster.volume_service.user, "key": secrets.volume_service_key}})


def csi_kubeconfig(plan: Plan, token: str, ca_data: str) -> str:
    """The sidecars' kubeconfig: their service account's token, the API through the VIP."""
    server = f"https://{plan.vip.address}:{plan.kubernetes.api_port}"
    return json.dumps({"apiVersion": "v1", "kind": "Config", "current-context": CSI_ACCOUNT,
                       "clusters": [{"name": plan.lab.name, "cluster": {"server": server, "certificate-authority-data": ca_data}}],
                       "users": [{"name": CSI_ACCOUNT, "user": {"token": token}}],
                       "contexts": [{"name": CSI_ACCOUNT, "context": {"cluster": plan.lab.name, "user": CSI_ACCOUNT}}]}, indent=2) + "\n"


def csi_node_units(plan: Plan, host: Host) -> list[File]:
    driver = plan.gluster.storage_class.provisioner
    return [File(f"/etc/systemd/system/{CSI_NODE_UNIT}", render(
        "gluster", "gluster-csi-node.service.j2", driver=driver, binary=f"{CSI_BIN}/gluster-csi", node=host.name,
        endpoint=csi_node_socket(plan)))]


def csi_controller_units(plan: Plan) -> list[File]:
    driver = plan.gluster.storage_class.provisioner
    units = [File(f"/etc/systemd/system/{CSI_CONTROLLER_UNIT}", render(
        "gluster", "gluster-csi-controller.service.j2", driver=driver, binary=f"{CSI_BIN}/gluster-csi", endpoint=CSI_CONTROLLER_SOCKET))]
    for name in CSI_SIDECARS:
        units.append(File(f"/etc/systemd/system/{name}.service", render(
            "gluster", "csi-sidecar.service.j2", name=name, driver=driver, binary=f"{CSI_BIN}/{name}", endpoint=CSI_CONTROLLER_SOCKET,
            kubeconfig=CSI_KUBECONFIG, namespace=CREDENTIALS[0], timeout_s=CSI_CALL_S)))
    return units
