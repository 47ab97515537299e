"""OCI image archives written by us, with no registry and no daemon: one uncompressed layer
from a list of files, a config, a manifest and an index naming the image, the layout that
`ctr images import` reads."""

from __future__ import annotations

import functools
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Layer:
    """Files of one layer, added in order: directories, regular files, symlinks."""

    entries: dict[str, tuple[str, bytes | str | None, int]] = field(default_factory=dict)

    def dir(self, path: str, mode: int = 0o755) -> None:
        parts = path.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            self.entries.setdefault("/".join(parts[:i]), ("dir", None, mode))

    def file(self, path: str, data: bytes | str, mode: int = 0o644) -> None:
        path = path.strip("/")
        if "/" in path:
            self.dir(path.rsplit("/", 1)[0])
        self.entries[path] = ("file", data.encode() if isinstance(data, str) else data, mode)

    def copy(self, source: Path, path: str, mode: int | None = None) -> None:
        self.file(path, source.read_bytes(), mode if mode is not None else source.stat().st_mode & 0o777)

    def symlink(self, path: str, target: str) -> None:
        path = path.strip("/")
        if "/" in path:
            self.dir(path.rsplit("/", 1)[0])
        self.entries[path] = ("link", target, 0o777)

    def tar(self) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
            for path, (kind, data, mode) in sorted(self.entries.items()):
                info = tarfile.TarInfo(path)
                info.mode, info.mtime = mode, 0
                if kind == "dir":
                    info.type = tarfile.DIRTYPE
                    t.addfile(info)
                elif kind == "link":
                    info.type, info.linkname = tarfile.SYMTYPE, str(data)
                    t.addfile(info)
                else:
                    assert isinstance(data, bytes)
                    info.size = len(data)
                    t.addfile(info, io.BytesIO(data))
        return buf.getvalue()


def _digest(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


def write_archive(out: Path, name: str, layer: Layer, entrypoint: list[str] | None, env: list[str] | None = None,
                  cmd: list[str] | None = None) -> str:
    """Write an OCI image archive for ``name`` (repository:tag); return the manifest digest.
    No entrypoint: the command (or a pod's args) runs as it is, as in images built FROM a
    shell image."""
    blob = layer.tar()
    runs: dict[str, list[str]] = {"Entrypoint": entrypoint} if entrypoint is not None else {}
    if cmd is not None:
        runs["Cmd"] = cmd
    config = {
        "architecture": "amd64", "os": "linux", "created": "1970-01-01T00:00:00Z",
        "config": {**runs, "Env": env or ["PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "WorkingDir": "/"},
        # Uncompressed layer: its diff_id is its digest.
        "rootfs": {"type": "layers", "diff_ids": [_digest(blob)]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "underhood"}],
    }
    config_b = json.dumps(config, separators=(",", ":")).encode()
    manifest = {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": _digest(config_b), "size": len(config_b)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": _digest(blob), "size": len(blob)}],
    }
    manifest_b = json.dumps(manifest, separators=(",", ":")).encode()
    index = {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": _digest(manifest_b), "size": len(manifest_b),
            "platform": {"architecture": "amd64", "os": "linux"},
            # containerd names the imported image after this annotation.
            "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": name.rsplit(":", 1)[1]},
        }],
    }
    tmp = out.with_name(out.name + ".partial")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tmp, "w") as t:
        def add(path: str, data: bytes) -> None:
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            t.addfile(info, io.BytesIO(data))

        add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        for b in (blob, config_b, manifest_b):
            add(f"blobs/sha256/{_digest(b)[7:]}", b)
        add("index.json", json.dumps(index).encode())
    tmp.replace(out)
    return _digest(manifest_b)


@functools.cache
def _index_digest(archive: Path, mtime_ns: int) -> str:
    with tarfile.open(archive) as t:
        member = t.extractfile("index.json")
        assert member is not None
        return json.loads(member.read())["manifests"][0]["digest"]


def archive_digest(archive: Path) -> str:
    """The manifest digest an archive of write_archive carries: what containerd lists for
    the image once imported."""
    return _index_digest(archive, archive.stat().st_mtime_ns)
