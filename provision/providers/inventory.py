"""The inventory of an existing lab: how to reach each host of the plan, and what the
provider may do there. Validated like the plan: one clear line per problem."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from provision.errors import ProviderError
from provision.topology import Plan

KEYS = {"ssh_config", "hosts", "kubeconfig", "haproxy_stats_password", "outside", "power"}


@dataclass(frozen=True)
class Power:
    poweroff: str
    poweron: str


@dataclass
class Inventory:
    path: Path
    ssh_config: Path
    kubeconfig: Path | None = None
    haproxy_stats_password: str | None = None
    outside: dict | None = None
    power: dict[str, Power] = field(default_factory=dict)


def _ssh_hosts(text: str) -> dict[str, dict[str, str]]:
    """Host blocks of an ssh config (the `vagrant ssh-config` format), keys lower-cased."""
    hosts: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in text.splitlines():
        parts = line.strip().split(None, 1)
        if not parts or parts[0].startswith("#"):
            continue
        key, value = parts[0].lower(), parts[1] if len(parts) > 1 else ""
        if key == "host":
            current = hosts.setdefault(value, {})
        elif current is not None:
            current[key] = value
    return hosts


def load(path: Path | str, plan: Plan) -> Inventory:
    path = Path(path)
    problems: list[str] = []
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ProviderError(f"{path}: cannot read the inventory: {exc}") from None
    if not isinstance(data, dict):
        raise ProviderError(f"{path}: the inventory must be a YAML mapping")
    for key in set(data) - KEYS:
        problems.append(f"{path}: {key}: unknown key; use {', '.join(sorted(KEYS))}")
    base = path.parent
    if "ssh_config" in data:
        ssh_config = (base / data["ssh_config"]).resolve()
        text = ssh_config.read_text() if ssh_config.exists() else ""
        if not text:
            problems.append(f"{path}: ssh_config: {ssh_config} is missing or empty")
    elif "hosts" in data:
        ssh_config = path.with_suffix(".ssh-config")
        lines = []
        for name, h in (data["hosts"] or {}).items():
            lines += [f"Host {name}", f"  HostName {h.get('host', name)}", f"  User {h.get('user', 'root')}",
                      f"  Port {h.get('port', 22)}"]
            if h.get("key"):
                lines.append(f"  IdentityFile {os.path.expanduser(h['key'])}")
        text = "\n".join(lines) + "\n"
        ssh_config.write_text(text)
    else:
        raise ProviderError(f"{path}: name how to reach the hosts: ssh_config: FILE, or hosts: {{NAME: {{host, user, key}}}}")
    hosts = _ssh_hosts(text)
    for h in plan.hosts:
        if h.name not in hosts:
            problems.append(f"{path}: {h.name}: the plan's host is missing from the inventory")
            continue
        key = hosts[h.name].get("identityfile")
        if key and not os.access(os.path.expanduser(key.strip('"')), os.R_OK):
            problems.append(f"{path}: {h.name}: the key {key} is not readable")
    power = {}
    for name, cmds in (data.get("power") or {}).items():
        if not isinstance(cmds, dict) or not {"poweroff", "poweron"} <= set(cmds):
            problems.append(f"{path}: power.{name}: give both poweroff: and poweron: commands")
        else:
            power[name] = Power(cmds["poweroff"], cmds["poweron"])
    outside = data.get("outside")
    if outside is not None and not {"address", "port", "name"} <= set(outside):
        problems.append(f"{path}: outside: give address, port and name (and source, the gateway's NAT address, if known)")
    kubeconfig = (base / data["kubeconfig"]).resolve() if data.get("kubeconfig") else None
    if kubeconfig and not kubeconfig.exists():
        problems.append(f"{path}: kubeconfig: {kubeconfig} does not exist")
    if problems:
        raise ProviderError("the inventory is not usable:\n" + "\n".join(problems))
    return Inventory(path, ssh_config, kubeconfig, data.get("haproxy_stats_password"), outside, power)


def safe_unit(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_-]", "-", name)
