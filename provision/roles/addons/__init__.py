"""Cluster add-ons as manifests from the plan: flannel, MetalLB's pool, CoreDNS placement."""

from __future__ import annotations

from provision.render import render
from provision.topology import Plan


def flannel(plan: Plan, image: str) -> str:
    nodes = (*plan.masters, *plan.workers)
    ifnames = sorted({h.lab_nic.ifname for h in nodes})
    return render("addons", "flannel.yaml.j2", plan=plan, image=image, ifnames=ifnames)


def demo(plan: Plan, image: str) -> str:
    return render("addons", "demo.yaml.j2", plan=plan, image=image, replicas=max(len(plan.workers), 1))


#: The demo's state: its claim, the file its writer appends to, and the writer.
DEMO_NAMESPACE = "demo"
RECORDS_CLAIM = "demo-data"
RECORDS_MOUNT = "/data"
RECORDS_FILE = "records"
RECORDS_WRITER = "demo-records"
#: One record every RECORDS_INTERVAL_S: the resolution of the write stall the chaos suite
#: measures on the claim (STO-06), well inside its budget (ping-timeout + 10 s). Not finer: each
#: record is an fsync on three bricks and a log line, all the time the lab is up, on 2 cores.
RECORDS_INTERVAL_S = 0.5
#: A writer's records before it exits (kubelet starts it again, as a new run): about 14 h.
RECORDS_PER_RUN = 100_000


def demo_records(plan: Plan, image: str) -> str:
    """The demo's claim and its writer (applied by the storage step: the claim needs the class)."""
    claim = {"name": RECORDS_CLAIM, "storage_class": plan.gluster.storage_class.name, "mount": RECORDS_MOUNT,
             "path": f"{RECORDS_MOUNT}/{RECORDS_FILE}"}
    return render("addons", "demo-records.yaml.j2", claim=claim, namespace=DEMO_NAMESPACE, writer=RECORDS_WRITER,
                  image=image, interval=RECORDS_INTERVAL_S, records=RECORDS_PER_RUN)


def metallb_system(plan: Plan, controller_image: str, speaker_image: str) -> str:
    return render("addons", "metallb-system.yaml.j2", m=plan.metallb, version=plan.versions.metallb,
                  controller_image=controller_image, speaker_image=speaker_image)


def metallb(plan: Plan) -> str:
    return render("addons", "metallb.yaml.j2", m=plan.metallb)


def coredns_patch(plan: Plan) -> str:
    return render("addons", "coredns-patch.yaml.j2", plan=plan)
