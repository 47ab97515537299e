"""Providers turn the plan into running hosts. ``get(name)`` picks one."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from provision.errors import ProviderError
from provision.providers.base import Provider
from provision.topology import Plan

NAMES = ("local", "local-ssh", "vagrant", "existing", "auto")


def choose(name: str | None) -> str:
    """Resolve ``auto`` (and LAB_PROVIDER): vagrant where Vagrant and VirtualBox are installed."""
    name = name or os.environ.get("LAB_PROVIDER") or "auto"
    if name not in NAMES:
        raise ProviderError(f"unknown provider {name!r}: use one of {', '.join(NAMES)} (--provider or LAB_PROVIDER)")
    if name == "auto":
        name = "vagrant" if shutil.which("vagrant") and shutil.which("VBoxManage") else "local"
    return name


def get(name: str | None, plan: Plan, *, inventory: str | None = None, allow_chaos: bool = False,
        plan_file: str | None = None) -> Provider:
    """``plan_file``: where ``plan`` was read from, for tools that read it themselves (the Vagrantfile)."""
    name = choose(name)
    if name == "existing":
        from provision.providers import inventory as inv
        from provision.providers.existing import ExistingProvider

        path = inventory or os.environ.get("LAB_INVENTORY")
        if not path:
            raise ProviderError("the existing provider needs an inventory: --inventory FILE (or LAB_INVENTORY)")
        return ExistingProvider(plan, inv.load(path, plan), allow_chaos)
    if name == "vagrant":
        from provision.providers.vagrant import VagrantProvider

        return VagrantProvider(plan, Path(plan_file) if plan_file else None)
    if name == "local-ssh":
        from provision.providers.local.over_ssh import LocalSshProvider

        return LocalSshProvider(plan)
    from provision.providers.local import LocalProvider

    return LocalProvider(plan)
