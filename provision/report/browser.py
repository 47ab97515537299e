"""A real headless browser (Debian's chromium) for pages of ours: the DOM it built, or a
picture of what it shows. No network: every flag that would call out is off."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from provision.errors import UnderhoodError

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: A page that does not load in this long is reported, not waited for.
LOAD_S = 120


def chromium() -> str | None:
    return shutil.which("chromium")


def _need() -> str:
    found = chromium()
    if found is None:
        raise UnderhoodError("chromium is not installed: `apt-get install chromium` (Debian's package; .ci/run installs it)")
    return found


def dom(page: str) -> str:
    """The document ``page`` (a URL) becomes once loaded and its scripts have run."""
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([_need(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", page],
                              capture_output=True, text=True, timeout=LOAD_S).stdout


def screenshot(page: str, out: Path, width: int, height: int) -> Path:
    """A PNG of the first ``width`` by ``height`` pixels of ``page`` (a URL), as a visitor sees them."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        res = subprocess.run([_need(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
                              f"--screenshot={out.resolve()}", page], capture_output=True, text=True, timeout=LOAD_S)
    if not out.exists():
        raise UnderhoodError(f"chromium made no picture of {page}: {res.stderr.strip()[-300:]}")
    return out
