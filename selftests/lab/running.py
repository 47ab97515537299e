"""The running local lab that the lab self-tests work on, or a skip that says why not."""

from __future__ import annotations

import os

import pytest

from provision import topology
from provision.providers.local import LocalProvider


def running_local_lab() -> LocalProvider:
    """Call at module level: skips the module unless a local lab is up and we are root."""
    if os.geteuid() != 0:
        pytest.skip("the local lab needs root", allow_module_level=True)
    lab = LocalProvider(topology.load(), log=lambda *a: None)
    if not lab.container(lab.plan.gateway).running():
        pytest.skip("no local lab is up: run `tox -e provision` first", allow_module_level=True)
    return lab
