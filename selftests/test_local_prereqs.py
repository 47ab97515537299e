"""The local provider refuses a machine it cannot use, with the alternative named."""

from __future__ import annotations

import subprocess

import pytest

from provision import topology
from provision.errors import ProviderError
from provision.providers import local
from provision.providers.local import LocalProvider


@pytest.fixture
def provider() -> LocalProvider:
    return LocalProvider(topology.load(), log=lambda *a: None)


def test_not_linux(provider, monkeypatch):
    monkeypatch.setattr(local.platform, "system", lambda: "Darwin")
    with pytest.raises(ProviderError, match=r"needs Linux.*--provider vagrant"):
        provider.check_machine()


def test_not_root(provider, monkeypatch):
    monkeypatch.setattr(local.platform, "system", lambda: "Linux")
    monkeypatch.setattr(local.os, "geteuid", lambda: 1000)
    with pytest.raises(ProviderError, match=r"needs root.*--provider vagrant"):
        provider.check_machine()


def _fake_sh(routes: str, addrs: str):
    def sh(*argv, check=True, timeout=60, input=None):
        out = routes if "route" in argv else addrs
        return subprocess.CompletedProcess(list(argv), 0, out, "")

    return sh


def test_a_machine_already_using_a_lab_range_is_refused(provider, monkeypatch):
    monkeypatch.setattr(local, "sh", _fake_sh("default via 192.168.1.1 dev eth0\n192.168.1.0/24 dev eth0 proto kernel\n",
                                              "2: eth0    inet 192.168.1.7/24 brd 192.168.1.255 scope global eth0\n"))
    with pytest.raises(ProviderError, match=r"already uses 192\.168\.1\.0/24.*change lab\.cidr"):
        provider.check_ranges_are_free()


def test_our_own_guard_routes_do_not_count(provider, monkeypatch):
    monkeypatch.setattr(local, "sh", _fake_sh("default via 192.0.2.1 dev eth0\nunreachable 192.168.0.0/16\n",
                                              "2: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\n"))
    provider.check_ranges_are_free()
