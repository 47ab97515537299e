"""The lab on hosts that are already booted and answer `run` (VMs, or containers reached
only over ssh): the step library in the documents' order. Gateway first (DHCP and DNS for
everyone), then every other host, the load-balancer pair, Gluster, and Kubernetes: the
binaries and images built on this machine, uploaded to the nodes, kubeadm through the VIP."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from rich.console import Console

from provision import baseimage, roles
from provision.errors import StepError, UnderhoodError
from provision.kube import artifacts, binaries
from provision.kube.artifacts import Artifacts
from provision.roles.master import KUBEADM_CONFIG
from provision.secrets import Secrets
from provision.steps import addons, cluster, etcd, gateway, gluster, hostfiles, kubernetes, loadbalancer, storage

#: Hosts converged at once (apt and uploads are the long parts; 2 cores).
PARALLEL_HOSTS = 4


class Steps:
    """Named, timed steps with a line each; the timings go to the provider's state."""

    def __init__(self, p) -> None:
        self.p = p
        self.console = Console(stderr=True)
        self.timings: dict[str, float] = {}

    def __call__(self, name: str, fn: Callable[[], object]) -> None:
        start = time.monotonic()
        seen = len(self.p.recoveries)
        try:
            with self.console.status(f"[bold]{name}[/] ..."):
                fn()
        except UnderhoodError as exc:
            if isinstance(exc, StepError):
                raise
            raise StepError(name, time.monotonic() - start, exc) from exc
        finally:
            # under the step that needed them, also when it stopped after all
            for what in self.p.recoveries[seen:]:
                self.console.print(f"  [yellow]↻[/] {what}", highlight=False)
        took = time.monotonic() - start
        self.timings[name] = took
        self.console.print(f"[green]✓[/] {name} [dim]({took:.1f} s)[/]")

    def finish(self, p, start: float) -> None:
        """The run's summary: its steps' times and what it changed (an `up` of a lab that is
        already right changes nothing)."""
        total = time.monotonic() - start
        summary = {"seconds": round(total, 2), "steps": {k: round(v, 2) for k, v in self.timings.items()},
                   "changes": p.changes, "recoveries": p.recoveries}
        (p.state / "last-up.json").write_text(json.dumps(summary, indent=2))
        mended = f", {len(p.recoveries)} mended by asking again" if p.recoveries else ""
        self.console.print(f"[bold green]lab up[/] in {total:.1f} s, {len(p.changes)} change(s){mended}")


def build(p, step: Steps) -> Artifacts:
    """The Kubernetes binaries and images, built on this machine (cached) from the same Go
    modules as every provider's; the images are made from the base image's packages."""
    plan = p.plan
    log = step.console.print
    got: dict[str, object] = {}
    # Only the image list is read from it: no secret is needed yet.
    config = next(f.content for f in roles.files_for(plan, plan.masters[0], Secrets.generate()) if f.path == KUBEADM_CONFIG)
    # The base image is downloads and unpacking, the Go builds are compiling: made at the
    # same time, a cold build is shorter by the base image's minute or so.
    with ThreadPoolExecutor(max_workers=1) as pool:
        root = pool.submit(baseimage.ensure, plan, log=log)
        step("kubernetes: binaries from Go modules", lambda: got.setdefault("bins", binaries.build_all(log)))
        step("base image", lambda: got.setdefault("root", root.result()))
    step("kubernetes: images", lambda: got.setdefault("art", artifacts.prepare(config, got["root"], got["bins"], log=log)))
    return got["art"]


#: The Kubernetes steps' titles, also the dry run's (provision.steps.pending).
RUNTIME = "kubernetes nodes: containerd, binaries, images"
ETCD_CA = "etcd: our CA on the first master"
CLUSTER = "kubernetes: kubeadm init, joins through the VIP"
ETCD = "etcd: a member per master, stacked, healthy"
ADDONS = "kubernetes add-ons: flannel, CoreDNS, MetalLB, demo application"
STORAGE = "storage: the Gluster CSI driver, its sidecars, the StorageClass"


def kubernetes_steps(p, step: Steps, art: Artifacts, secrets: Secrets) -> None:
    """From container runtime to add-ons: the same on every provider."""
    step(RUNTIME, lambda: kubernetes.runtime(p, art))
    step(ETCD_CA, lambda: etcd.seed(p))
    step(CLUSTER, lambda: cluster.apply(p, secrets))
    step(ETCD, lambda: etcd.wait_healthy(p))
    step(ADDONS, lambda: addons.apply(p, art))
    if p.plan.glusters:
        step(STORAGE, lambda: storage.apply(p, art, secrets))


def converge(p) -> None:
    plan = p.plan
    step = Steps(p)
    start = time.monotonic()
    secrets = Secrets.load_or_create(p.state / "secrets")
    # Built first: a missing tool or a failed build stops the run before any host changes.
    art = build(p, step) if plan.masters else None
    gw = plan.gateway
    step(f"{gw.name}: packages", lambda: hostfiles.packages(p, gw))
    step(f"{gw.name}: files", lambda: hostfiles.host_files(p, gw, secrets))
    step("gateway: forwarding, NAT, dnsmasq", lambda: gateway.configure(p))
    others = [h for h in plan.hosts if h is not gw]

    def each(fn: Callable) -> Callable[[], None]:
        def run() -> None:
            with ThreadPoolExecutor(max_workers=PARALLEL_HOSTS) as pool:
                list(pool.map(lambda h: fn(p, h), others))
        return run

    step(f"{len(others)} hosts: packages", each(hostfiles.packages))
    step(f"{len(others)} hosts: files", each(lambda p, h: hostfiles.host_files(p, h, secrets)))
    step("addresses by DHCP", lambda: gateway.wait_for_leases(p))
    # A smaller plan (a smoke run's) may leave a tier out.
    if plan.loadbalancers:
        step("load balancer pair: corosync, pacemaker, VIP", lambda: loadbalancer.apply(p, secrets))
    if plan.glusters:
        step("gluster: pool and replicated volume", lambda: gluster.apply(p))
    if art is not None and plan.loadbalancers:
        kubernetes_steps(p, step, art, secrets)
    step.finish(p, start)
