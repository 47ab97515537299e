"""The ordered steps that build the lab, as the documents do: gateway first (DHCP and DNS
for everyone), then every other host, the load-balancer pair, etcd, Gluster. Each step is
idempotent, so re-running `up` on a half-built lab finishes it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from rich.console import Console

from provision import roles
from provision.kube import artifacts
from provision.kube.artifacts import Artifacts
from provision.providers.local import image, netconfig
from provision.providers.local.steps import addons, cluster, etcd, gateway, gluster, kubernetes, loadbalancer
from provision.render import File
from provision.roles.master import KUBEADM_CONFIG
from provision.secrets import Secrets


class Pipeline:
    def __init__(self, provider) -> None:
        self.p = provider
        self.console = Console(stderr=True)
        self.timings: dict[str, float] = {}

    def step(self, name: str, fn: Callable[[], None]) -> None:
        start = time.monotonic()
        with self.console.status(f"[bold]{name}[/] ..."):
            fn()
        took = time.monotonic() - start
        self.timings[name] = took
        self.console.print(f"[green]✓[/] {name} [dim]({took:.1f} s)[/]")

    def build(self) -> Artifacts:
        """What the hosts are made of: the base image and the Kubernetes binaries and images
        (cached on the machine; minutes the first time, seconds after)."""
        p = self.p
        plan = p.plan
        base = {}
        self.step("base image", lambda: base.setdefault("root", image.ensure(plan, log=self.console.print)))
        kube = {}
        first = plan.masters[0]
        # Only the image list is read from it: no secret is needed yet.
        config = next(f.content for f in roles.files_for(plan, first, Secrets.generate()) if f.path == KUBEADM_CONFIG)
        self.step("kubernetes: binaries from Go modules, images",
                  lambda: kube.setdefault("art", artifacts.prepare(config, base["root"], log=self.console.print)))
        return kube["art"]

    def run(self) -> None:
        p = self.p
        plan = p.plan
        start = time.monotonic()
        art = self.build()
        secrets = Secrets.load_or_create(p.state / "secrets")
        self.step("networks", p._networks_up)

        management = [File("/root/.ssh/authorized_keys", p.ssh_key().with_suffix(".pub").read_text(), mode="0600")]

        def write_files() -> None:
            for host in plan.hosts:
                c = p.container(host)
                c.prepare()
                for f in [*netconfig.files(plan, host), *roles.files_for(plan, host, secrets), *management]:
                    if c.write(f.path, f.content, f.mode):
                        p.changed(f"{host.name}: wrote {f.path}")
                # DHCP hosts resolve through resolved (servers and search domain from the
                # lease); the gateway through its own dnsmasq, with resolved masked.
                link, target = (
                    (c.root / "etc/systemd/system/systemd-resolved.service", "/dev/null")
                    if host.role == "gateway"
                    else (c.root / "etc/resolv.conf", "/run/systemd/resolve/stub-resolv.conf")
                )
                if not link.is_symlink():
                    link.unlink(missing_ok=True)
                    link.symlink_to(target)
                    p.changed(f"{host.name}: linked {link.name}")

        self.step("host files", write_files)
        self.step(f"boot {plan.gateway.name}", lambda: p.boot_hosts([plan.gateway]))
        self.step("gateway: outside, NAT, dnsmasq", lambda: gateway.apply(p))
        others = [h for h in plan.hosts if h.role != "gateway"]
        self.step(f"boot {len(others)} hosts", lambda: p.boot_hosts(others))
        self.step("addresses by DHCP", lambda: gateway.wait_for_leases(p))
        def management_ssh() -> None:
            with ThreadPoolExecutor(max_workers=4) as pool:
                list(pool.map(lambda h: p.ensure_active(h.name, "ssh"), plan.hosts))

        self.step("management ssh on every host", management_ssh)
        self.step("load balancer pair: corosync, pacemaker, VIP", lambda: loadbalancer.apply(p, secrets))
        self.step("gluster: pool and replicated volume", lambda: gluster.apply(p))
        self.step("kubernetes nodes: containerd, images", lambda: kubernetes.runtime(p, art))
        self.step("etcd: our CA on the first master", lambda: etcd.seed(p))
        self.step("kubernetes: kubeadm init, joins through the VIP", lambda: cluster.apply(p, secrets))
        self.step("etcd: a member per master, stacked, healthy", lambda: etcd.wait_healthy(p))
        self.step("kubernetes add-ons: flannel, CoreDNS, demo application", lambda: addons.apply(p, art))
        total = time.monotonic() - start
        summary = {"seconds": round(total, 2), "steps": {k: round(v, 2) for k, v in self.timings.items()}, "changes": p.changes}
        (p.state / "last-up.json").write_text(json.dumps(summary, indent=2))
        self.console.print(f"[bold green]lab up[/] in {total:.1f} s, {len(p.changes)} change(s)")
