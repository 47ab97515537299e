"""The fixtures of the underhood plugin: the plan, the running lab, its hosts (testinfra) and
the Kubernetes API through the VIP. Registered by the plugin (provision/pytest_plugin.py)
once every other plugin is loaded, so that `host` is ours, not testinfra's."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from provision import topology
from provision.errors import UnderhoodError
from provision.pytest_plugin import LabAbsent, needs, open_lab


@pytest.fixture(scope="session")
def plan(pytestconfig: pytest.Config) -> topology.Plan:
    """The plan under test, loaded and validated once."""
    return topology.load(pytestconfig.getoption("--plan"))


@pytest.fixture(scope="session")
def lab(plan: topology.Plan, pytestconfig: pytest.Config):
    """The provider of the running lab. Without one, the test fails with the reason (skips
    with --allow-absent): a test that cannot reach what it must check has not passed."""
    try:
        return open_lab(pytestconfig, plan)
    except LabAbsent as exc:
        if pytestconfig.getoption("--allow-absent"):
            pytest.skip(str(exc))
        pytest.fail(str(exc), pytrace=False)
    except UnderhoodError as exc:
        if pytestconfig.getoption("--provider") == "existing":
            pytest.exit(str(exc), returncode=2)  # a bad inventory: say so once, before any test runs
        if pytestconfig.getoption("--allow-absent"):
            pytest.skip(f"no provider: {exc}")
        pytest.fail(f"no provider: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def host(lab) -> Callable[[str], Any]:
    """host(name) -> a testinfra Host on that lab host."""
    from provision import hostaccess

    cache: dict[str, object] = {}

    def _get(name: str):
        if name not in cache:
            cache[name] = hostaccess.host(lab, name)
        return cache[name]

    return _get


@pytest.fixture(scope="session")
def k8s(lab) -> Iterator[Any]:
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
    except kubeclient.NotThroughTheVip as exc:
        pytest.fail(str(exc), pytrace=False)  # the very thing K8S-02/K8S-04 check: red, not skipped
