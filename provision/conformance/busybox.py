"""The tests' busybox, built from its source as their image has it.

The tests' busybox image (test/images/busybox of the pin) is docker-library's busybox 1.37.0:
upstream's defconfig, linked statically. Its ash is the shell of the busybox, agnhost and
nginx images, and the tests read what that shell says ("/bin/sh: can't create /file:
Read-only file system"). Debian 12's busybox is 1.35, built to prefer its own applets: its
ash runs its own nc before PATH's and drops environment variables whose names are no shell
identifiers (`data-1`); bash, which stood in for it, words its errors otherwise.

The source is upstream's tarball as Debian's archive carries it (the orig tarball of the
busybox source package of a Debian release that has 1.37.0), its checksum pinned; apt
fetches it with a configuration of its own, so the machine's apt is left as it is."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

from provision.baseimage import MIRROR
from provision.errors import ProviderError
from provision.kube import binaries, images

VERSION = "1.37.0"
#: busybox-1.37.0.tar.bz2, upstream's release, as Debian's busybox_1.37.0.orig.tar.bz2
SOURCE_SHA256 = "3311dff32e746499f4df0d5df04d7eb396382d7e108bb9250e7b519b837043a4"
#: the Debian release whose busybox source package is VERSION
SUITE = "trixie"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
#: docker-library's change to defconfig (a static binary: the image has no C library), and
#: tc left out: 1.37.0's tc does not build against current kernel headers (CBQ was removed
#: from them), and no test runs it.
CONFIG = {"CONFIG_STATIC": "y", "CONFIG_TC": None}
RECIPE = "1"
#: What the build runs (Debian's packages of the same names, with libc6-dev for a static link).
TOOLS = ("make", "gcc")


def cache_dir() -> Path:
    h = hashlib.sha256(f"{RECIPE} {SOURCE_SHA256} {sorted(CONFIG.items(), key=str)}".encode()).hexdigest()[:12]
    return binaries.CACHE / f"e2e-busybox-{VERSION}-{h}"


def build(log: Callable[[str], None] = print) -> Path:
    """The static busybox binary (built once, cached)."""

    def make(partial: Path) -> None:
        missing = [tool for tool in TOOLS if shutil.which(tool) is None]
        if missing:
            raise ProviderError(f"building busybox {VERSION} for the test images needs {', '.join(missing)}: "
                                f"apt-get install {' '.join(missing)} libc6-dev")
        start = time.monotonic()
        log(f"building busybox {VERSION} from its source (defconfig, static), for the test images")
        tarball = fetch_source(partial / "download")
        src = partial / "src"
        with tarfile.open(tarball, "r:bz2") as t:
            t.extractall(src, filter="data")
        tree = src / f"busybox-{VERSION}"
        _make(tree, ["defconfig"])
        (tree / ".config").write_text(configured((tree / ".config").read_text()))
        _make(tree, ["oldconfig"], answers="\n" * 200)  # the defaults for what the changes bring in
        _make(tree, [f"-j{os.cpu_count() or 1}", "busybox"], timeout=1800)
        (partial / "bin").mkdir()
        shutil.copy2(tree / "busybox", partial / "bin" / "busybox")
        shutil.copy2(tree / ".config", partial / "config")
        shutil.rmtree(src)
        shutil.rmtree(partial / "download")
        log(f"  busybox {VERSION}: built in {time.monotonic() - start:.0f} s")

    return images.cached(cache_dir(), make) / "bin" / "busybox"


def configured(config: str) -> str:
    """defconfig's .config with CONFIG's changes (None: left out)."""
    out = []
    for line in config.splitlines():
        name = line.split("=", 1)[0] if not line.startswith("#") else line[2:].removesuffix(" is not set")
        if name in CONFIG:
            value = CONFIG[name]
            line = f"{name}={value}" if value is not None else f"# {name} is not set"
        out.append(line)
    missing = [name for name in CONFIG if not any(ln.split("=", 1)[0] == name or ln == f"# {name} is not set" for ln in out)]
    if missing:
        raise ProviderError(f"busybox {VERSION}'s defconfig has no {', '.join(missing)}: review busybox.CONFIG")
    return "\n".join(out) + "\n"


def _make(tree: Path, args: list[str], answers: str | None = None, timeout: float = 300) -> None:
    res = subprocess.run(["make", *args], cwd=tree, input=answers, capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise ProviderError(f"busybox {VERSION}: make {' '.join(args)} failed ({res.returncode}): "
                            f"{(res.stderr or res.stdout).strip()[-2000:]}")


def fetch_source(work: Path) -> Path:
    """busybox_VERSION.orig.tar.bz2 from Debian's archive (apt checks it against the signed
    index), then against SOURCE_SHA256."""
    lists, cache = work / "lists", work / "cache"
    for d in (lists / "partial", cache / "archives" / "partial"):
        d.mkdir(parents=True)
    sources = work / "sources.list"
    sources.write_text(f"deb-src [signed-by={KEYRING}] {MIRROR} {SUITE} main\n")
    options = [f"-oDir::Etc::SourceList={sources}", "-oDir::Etc::SourceParts=/dev/null", f"-oDir::State::Lists={lists}",
               f"-oDir::Cache={cache}", "-oAPT::Sandbox::User=root", "-q"]
    for argv in (["apt-get", *options, "update"], ["apt-get", *options, "source", "--download-only", "busybox"]):
        res = subprocess.run(argv, cwd=work, capture_output=True, text=True, timeout=600)
        if res.returncode != 0:
            raise ProviderError(f"busybox's source from Debian {SUITE} ({MIRROR}): {' '.join(argv[:1] + argv[-3:])} "
                                f"failed ({res.returncode}): {res.stderr.strip()[-1500:]}")
    tarball = work / f"busybox_{VERSION}.orig.tar.bz2"
    if not tarball.is_file():
        found = sorted(p.name for p in work.glob("busybox_*"))
        raise ProviderError(f"Debian {SUITE}'s busybox source is no longer {VERSION} (it gave {', '.join(found) or 'nothing'}): "
                            "review busybox.VERSION, SOURCE_SHA256 and SUITE")
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    if digest != SOURCE_SHA256:
        raise ProviderError(f"{tarball.name} has sha256 {digest}, not the pinned {SOURCE_SHA256}")
    return tarball
