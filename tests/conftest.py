"""Fixtures of the conformance suite: the running lab and its hosts (testinfra)."""

from __future__ import annotations

import pytest

from provision import hostaccess, providers
from provision.errors import UnderhoodError
from provision.topology import Plan


@pytest.fixture(scope="session")
def lab(plan: Plan, pytestconfig: pytest.Config):
    """The provider of the running lab; skips the test when no lab is up."""
    try:
        provider = providers.get(pytestconfig.getoption("--provider"), plan, inventory=pytestconfig.getoption("--inventory"),
                                 allow_chaos=pytestconfig.getoption("--allow-chaos"), plan_file=pytestconfig.getoption("--plan"))
        if provider.name == "existing":
            provider.check_reachable()
    except UnderhoodError as exc:
        if pytestconfig.getoption("--provider") == "existing":
            pytest.exit(str(exc), returncode=2)  # a bad inventory: say so once, before any test runs
        pytest.skip(f"no provider: {exc}")
    if not provider.is_up():
        pytest.skip(f"no lab is up ({provider.name} provider): run `tox -e provision` first")
    return provider


@pytest.fixture(scope="session")
def host(lab):
    """host(name) -> a testinfra Host on that lab host."""
    cache: dict[str, object] = {}

    def _get(name: str):
        if name not in cache:
            cache[name] = hostaccess.host(lab, name)
        return cache[name]

    return _get


def needs(lab, capability: str, why: str) -> None:
    if capability not in lab.capabilities:
        pytest.skip(f"the {lab.name} provider cannot show this: {why}")


@pytest.fixture(scope="session")
def k8s(lab):
    """A Kubernetes API client as the cluster's admin, through the VIP, from the admin host
    (documents' jump host); skips when this lab has no Kubernetes."""
    from provision import kubeclient

    needs(lab, "kubernetes", "it builds no Kubernetes cluster")
    try:
        with kubeclient.connect(lab) as client:
            vip, masters = str(lab.plan.vip.address), len(lab.plan.masters)
            answers: list[str] = []

            def every_api_server_ready() -> bool:
                answers[:] = kubeclient.unready_answers(client.tunnel_port, vip, masters)
                return not answers

            try:
                lab.wait_for("every API server behind the VIP ready", every_api_server_ready, 30, interval=5)
            except UnderhoodError:
                # One API server in three holding requests makes every test wait on it; say
                # so once, as the reason each Kubernetes test fails.
                pytest.fail(f"the API behind the VIP is not whole: /readyz answered {answers}")
            yield client
    except kubeclient.NoCluster as exc:
        pytest.skip(str(exc))
