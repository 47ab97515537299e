"""The admin client in dmz (the documents' jump host): where probes and clients run."""

from __future__ import annotations

from provision.render import File
from provision.secrets import Secrets
from provision.topology import Host, Plan


def files(plan: Plan, host: Host, secrets: Secrets) -> list[File]:
    # Nothing to configure: it takes its address and resolver by DHCP like every host.
    return []
