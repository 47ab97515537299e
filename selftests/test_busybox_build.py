"""The tests' busybox: built from its pinned source with defconfig's changes, refused when the
source is not what was pinned, and (when built here) the shell the tests read."""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

import pytest

from provision.conformance import busybox
from provision.errors import ProviderError

DEFCONFIG = "CONFIG_HAVE_DOT_CONFIG=y\n# CONFIG_STATIC is not set\nCONFIG_ASH=y\nCONFIG_TC=y\nCONFIG_TCPSVD=y\n"


def test_defconfig_gets_the_images_changes_and_nothing_else():
    lines = busybox.configured(DEFCONFIG).splitlines()
    assert lines == ["CONFIG_HAVE_DOT_CONFIG=y", "CONFIG_STATIC=y", "CONFIG_ASH=y", "# CONFIG_TC is not set", "CONFIG_TCPSVD=y"]
    # the failing side: a release whose defconfig lost an option is not built as if it were there
    with pytest.raises(ProviderError, match=r"defconfig has no CONFIG_TC: review busybox.CONFIG"):
        busybox.configured("# CONFIG_STATIC is not set\nCONFIG_TCPSVD=y\n")


def _apt(monkeypatch, tarballs: dict[str, bytes], rc: int = 0) -> list[list[str]]:
    """apt-get standing in: `source` leaves ``tarballs`` in its directory."""
    ran: list[list[str]] = []

    def run(argv, cwd=None, **kwargs):
        ran.append(argv)
        if argv[-2:] == ["--download-only", "busybox"] and rc == 0:
            for name, data in tarballs.items():
                (Path(cwd) / name).write_bytes(data)
        return subprocess.CompletedProcess(argv, rc, "", "E: Unable to find a source package" if rc else "")

    monkeypatch.setattr(busybox.subprocess, "run", run)
    return ran


def test_the_source_is_taken_only_with_its_pinned_checksum(tmp_path, monkeypatch):
    name = f"busybox_{busybox.VERSION}.orig.tar.bz2"
    ran = _apt(monkeypatch, {name: b"not the release"})
    with pytest.raises(ProviderError, match=rf"{name} has sha256 {hashlib.sha256(b'not the release').hexdigest()}, not the pinned"):
        busybox.fetch_source(tmp_path / "a")
    # its own apt configuration, Debian's signed index of the release that has the version
    sources = (tmp_path / "a" / "sources.list").read_text()
    assert sources == f"deb-src [signed-by={busybox.KEYRING}] {busybox.MIRROR} {busybox.SUITE} main\n"
    assert all(f"-oDir::Etc::SourceList={tmp_path / 'a' / 'sources.list'}" in argv for argv in ran)
    # the control: the same download with the pinned digest is taken
    monkeypatch.setattr(busybox, "SOURCE_SHA256", hashlib.sha256(b"not the release").hexdigest())
    assert busybox.fetch_source(tmp_path / "b").name == name


def test_a_release_that_moved_on_or_an_unreachable_archive_says_so(tmp_path, monkeypatch):
    _apt(monkeypatch, {"busybox_1.38.0.orig.tar.bz2": b"newer"})
    with pytest.raises(ProviderError, match=rf"no longer {re.escape(busybox.VERSION)} \(it gave busybox_1\.38\.0\.orig\.tar\.bz2\): "
                                            r"review busybox.VERSION"):
        busybox.fetch_source(tmp_path / "a")
    _apt(monkeypatch, {}, rc=100)
    with pytest.raises(ProviderError, match=r"busybox's source from Debian .* failed \(100\): E: Unable to find a source package"):
        busybox.fetch_source(tmp_path / "b")


def test_a_missing_compiler_is_named_with_its_package(tmp_path, monkeypatch):
    monkeypatch.setattr(busybox.binaries, "CACHE", tmp_path)
    monkeypatch.setattr(busybox.shutil, "which", lambda tool: None if tool == "make" else f"/usr/bin/{tool}")
    with pytest.raises(ProviderError, match=r"needs make: apt-get install make libc6-dev"):
        busybox.build(log=lambda text: None)
    assert not busybox.cache_dir().exists()  # nothing taken for built


def _built() -> Path:
    binary = busybox.cache_dir() / "bin" / "busybox"
    if not (busybox.cache_dir() / ".complete").exists():
        pytest.skip(f"busybox {busybox.VERSION} is not built on this machine (tox -e k8s-conformance builds it)")
    return binary


def _shell(program: list[str], script: str) -> subprocess.CompletedProcess:
    # a variable name that is no shell identifier, as a ConfigMap's key gives the tests
    return subprocess.run(["env", "-i", "data-1=value-1", *program, "-c", script], capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("shell", ["busybox", "bash"])
def test_the_built_ash_is_the_shell_the_tests_read(shell, tmp_path):
    program = [str(_built()), "sh"] if shell == "busybox" else ["/bin/bash"]
    env = _shell(program, "env")
    missing = _shell(program, f"echo test > {tmp_path}/absent/file")
    # busybox 1.37's ash keeps `data-1` (Debian 12's 1.35 dropped it) and words its errors as
    # the tests compare them; the control, bash, which stood in for it, does not
    words = f"can't create {tmp_path}/absent/file: nonexistent directory"
    assert ("data-1=value-1" in env.stdout.splitlines(), words in missing.stderr) == (True, shell == "busybox"), missing.stderr
