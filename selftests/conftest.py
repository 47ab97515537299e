"""Fixtures of the self-tests: the default plan as raw data, to mutate."""

from __future__ import annotations

import copy
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from provision import topology
from provision.providers.base import HostState, Provider
from provision.validation import validate

_RAW = yaml.safe_load(topology.DEFAULT_PLAN.read_text())


@pytest.fixture
def raw() -> dict:
    """A fresh deep copy of the default plan's YAML data."""
    return copy.deepcopy(_RAW)


@pytest.fixture
def build() -> Callable[[dict], topology.Plan]:
    """Parse and validate raw plan data the way `topology.load` does."""

    def _build(data: dict) -> topology.Plan:
        plan = topology.parse(data)
        validate(plan)
        return plan

    return _build


def need_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (.ci/run installs it with apt-get)")
    return path


def tool_on_path(tmp_path: Path, monkeypatch, name: str, script: str) -> Path:
    """A stand-in for a command-line tool, first on PATH for the test: its script's path."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    tool = bin_dir / name
    tool.write_text(script)
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return tool


class ContractOnly(Provider):
    """A provider with no hosts to create or fault: a self-test gives it `run` (and what else
    it exercises) to drive code that uses the contract."""

    name = "contract-only"

    def up(self) -> None: ...
    def down(self) -> None: ...
    def hosts(self) -> list[HostState]: return []
    def running(self, host: str) -> bool: return True
    def poweroff(self, host: str) -> None: ...
    def start(self, host: str) -> None: ...
    def isolate(self, host: str) -> None: ...
    def heal(self, host: str) -> None: ...
