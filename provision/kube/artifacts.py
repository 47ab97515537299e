"""Everything a node of the lab needs from the build: binaries and image archives, made (or
taken from the machine's cache) in one call."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from provision.errors import ProviderError
from provision.kube import binaries, crds, images


@dataclass(frozen=True)
class Artifacts:
    bins: dict[str, Path]  # component -> directory of its binaries
    image_dir: Path
    images: tuple[images.Image, ...]
    metallb_crds: Path

    def image(self, name: str) -> images.Image:
        return next(i for i in self.images if i.name == name)


def kubeadm_images(kubeadm: Path, kubeadm_config: str) -> list[str]:
    """The images kubeadm will run for this configuration (its own list, not ours)."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(kubeadm_config)
        f.flush()
        res = subprocess.run([str(kubeadm), "config", "images", "list", "--config", f.name],
                             capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        raise ProviderError(f"kubeadm config images list failed: {res.stderr.strip()[-800:]}")
    return res.stdout.split()


def prepare(kubeadm_config: str, base_root: Path, bins: dict[str, Path] | None = None,
            log: Callable[[str], None] = print) -> Artifacts:
    """The images and CRDs from the binaries (``bins``: already built, else built now)."""
    bins = bins if bins is not None else binaries.build_all(log)
    wanted = images.control_plane_images(kubeadm_images(bins["kubernetes"] / "kubeadm", kubeadm_config))
    wanted += images.addon_images()
    return Artifacts(bins, images.ensure(wanted, base_root, log), tuple(wanted), crds.metallb_crds(log))
