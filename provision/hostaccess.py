"""A thin interface over testinfra: a testinfra Host for each lab host, reached through the
provider (nsenter into a local container; other providers bring their own connection)."""

from __future__ import annotations

from typing import Any

import testinfra
import testinfra.backend
import testinfra.host
from testinfra.backend import base


class ProviderBackend(base.BaseBackend):
    """Runs testinfra's commands with the provider's ``run`` (no ssh needed)."""

    NAME = "underhood"

    def __init__(self, hostname: str, provider, **kwargs: Any) -> None:
        self.provider = provider
        super().__init__(hostname, **kwargs)

    def get_pytest_id(self) -> str:
        return self.hostname

    @classmethod
    def get_hosts(cls, host: str, **kwargs: Any) -> list[str]:
        return [host]

    def run(self, command: str, *args: str, **kwargs: Any) -> base.CommandResult:
        cmd = self.get_command(command, *args)
        res = self.provider.run(self.hostname, ["sh", "-c", cmd], timeout=kwargs.get("timeout", 60))
        return self.result(res.rc, self.encode(cmd), res.stdout.encode(), res.stderr.encode())


# Registered the way testinfra resolves backends: testinfra.get_host("underhood://NAME",
# provider=PROVIDER) works as well as host() below.
testinfra.backend.BACKENDS.setdefault(ProviderBackend.NAME, f"{__name__}.ProviderBackend")


def host(provider, name: str) -> testinfra.host.Host:
    return testinfra.get_host(f"{ProviderBackend.NAME}://{name}", provider=provider)
