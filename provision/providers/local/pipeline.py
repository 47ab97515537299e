"""The local provider's ordering of the step library: the hosts' files written into their
roots before they boot (no round trip per file), gateway first (DHCP and DNS for everyone),
then every other host, the load-balancer pair, Gluster, Kubernetes. Each step is idempotent,
so re-running `up` on a half-built lab finishes it."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from provision import roles
from provision.kube.artifacts import Artifacts
from provision.render import File
from provision.roles import network
from provision.secrets import Secrets
from provision.steps import converge, gateway, gluster, loadbalancer


class Pipeline:
    def __init__(self, provider) -> None:
        self.p = provider
        self.step = converge.Steps(provider)

    def build(self) -> Artifacts:
        """What the hosts are made of: the base image and the Kubernetes binaries and images
        (cached on the machine; minutes the first time, seconds after)."""
        return converge.build(self.p, self.step)

    def write_files(self, secrets: Secrets) -> None:
        p = self.p
        plan = p.plan
        management = [File("/root/.ssh/authorized_keys", p.ssh_key().with_suffix(".pub").read_text(), mode="0600")]
        for host in plan.hosts:
            c = p.container(host)
            c.prepare()
            for f in [*network.files(plan, host, p.uplink()), *roles.files_for(plan, host, secrets), *management]:
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

    def run(self) -> None:
        p = self.p
        plan = p.plan
        step = self.step
        start = time.monotonic()
        art = self.build()
        secrets = Secrets.load_or_create(p.state / "secrets")
        step("networks", p._networks_up)
        step("host files", lambda: self.write_files(secrets))
        step(f"boot {plan.gateway.name}", lambda: p.boot_hosts([plan.gateway]))
        step("gateway: outside, NAT, dnsmasq", lambda: (p.attach_uplink(), gateway.configure(p)))
        others = [h for h in plan.hosts if h.role != "gateway"]
        step(f"boot {len(others)} hosts", lambda: p.boot_hosts(others))
        step("addresses by DHCP", lambda: gateway.wait_for_leases(p))

        def management_ssh() -> None:
            with ThreadPoolExecutor(max_workers=4) as pool:
                list(pool.map(lambda h: p.ensure_active(h.name, "ssh"), plan.hosts))

        step("management ssh on every host", management_ssh)
        step("load balancer pair: corosync, pacemaker, VIP", lambda: loadbalancer.apply(p, secrets))
        step("gluster: pool and replicated volume", lambda: gluster.apply(p))
        converge.kubernetes_steps(p, step, art, secrets)
        step.finish(p, start)
