"""The provider contract: small, and knows nothing about Kubernetes."""

from __future__ import annotations

import abc
import base64
import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path

from provision.errors import ProviderError
from provision.roles.network import Uplink
from provision.steps import must
from provision.topology import Plan
from provision.waiting import until

#: An upload's time limit: a floor, plus this much per MiB (a slow ssh link, 1 MiB/s).
UPLOAD_FLOOR_S = 60
UPLOAD_S_PER_MIB = 1.0


@dataclass(frozen=True)
class HostState:
    name: str
    role: str
    state: str  # "running", "stopped", "absent"
    address: str | None


@dataclass(frozen=True)
class OutsideTarget:
    """Something beyond the gateway's NAT that the suite may talk to (NET-05/06)."""

    address: str
    port: int
    #: A name the upstream resolver answers, and the address it answers with.
    name: str
    #: The source address the outside service should see (the gateway's uplink), if known.
    expected_source: str | None = None
    #: The upstream resolver's query log, where the provider can read it.
    stub_log: Path | None = None


@dataclass(frozen=True)
class Result:
    rc: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0


class Provider(abc.ABC):
    name: str
    #: What this provider can offer, so tests that need more skip with the reason.
    capabilities: frozenset[str] = frozenset()

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        #: What this run changed on the lab (empty on an `up` of a lab that is already right).
        self.changes: list[str] = []
        #: What went wrong and was mended by asking again (a DHCP exchange lost, the API away
        #: for a moment): a run that passed slowly says why, on the console and in last-up.json.
        self.recoveries: list[str] = []

    def changed(self, what: str) -> None:
        self.changes.append(what)

    def recovered(self, what: str) -> None:
        self.recoveries.append(what)

    def ensure_active(self, host: str, *units: str, enable: bool = True) -> None:
        """Start (and enable) units that are not active yet; a no-op when they are."""
        for unit in units:
            if self.run(host, ["systemctl", "is-active", "--quiet", unit], timeout=20).ok:
                continue
            argv = ["systemctl", "enable", "--now", unit] if enable else ["systemctl", "start", unit]
            must(self.run(host, argv, timeout=120), f"{host}: start {unit}")
            self.changed(f"{host}: started {unit}")

    @abc.abstractmethod
    def up(self) -> None: ...

    @abc.abstractmethod
    def down(self) -> None: ...

    @abc.abstractmethod
    def hosts(self) -> list[HostState]: ...

    @abc.abstractmethod
    def run(self, host: str, argv: list[str], *, timeout: float = 60, input: str | None = None) -> Result: ...

    @abc.abstractmethod
    def running(self, host: str) -> bool: ...

    # -- files on a host: what the steps use besides run ---------------------------------------
    def write(self, host: str, path: str, content: str | bytes, mode: str = "0644") -> bool:
        """Write a file on a host; True when it changed (the same bytes and mode are left
        alone). Through ``run`` and base64 (some role files are bytes); a provider with a
        faster way (a container's root on this machine) overrides it."""
        data = content.encode() if isinstance(content, str) else content
        current = self.run(host, ["sh", "-c", 'sha256sum < "$1" && stat -c %a "$1"', "-", path], timeout=30)
        if current.ok and current.stdout.split() == [hashlib.sha256(data).hexdigest(), "-", mode.lstrip("0")]:
            return False
        res = self.run(host, ["sh", "-c", 'base64 -d | install -D -m "$1" /dev/stdin "$2"', "-", mode, path], timeout=60,
                       input=base64.b64encode(data).decode())
        if not res.ok:
            raise ProviderError(f"{host}: writing {path} failed: {res.stderr.strip()}")
        return True

    def shared_path(self, host: str, source: Path) -> str | None:
        """Where a host already sees a file of this machine (a read-only bind), if it does:
        then nothing needs to be uploaded."""
        return None

    def exec_argv(self, host: str, argv: list[str]) -> list[str]:
        """The command line on this machine that runs ``argv`` on a host, stdin and stdout
        passed through as bytes (uploads)."""
        raise NotImplementedError(f"the {self.name} provider cannot stream files to a host")

    def upload(self, host: str, source: Path, dest: str, mode: str = "0644") -> bool:
        """Copy a file of this machine to ``dest`` on a host; True when it was copied. The
        checksum decides: the same content is left alone. Resumable: an interrupted copy
        (``dest.part``) goes on from where it stopped, and a copy that does not verify is
        started over once."""
        digest = _sha256(source)
        size = source.stat().st_size
        for attempt in (1, 2):
            state = self.run(host, ["sh", "-c", '(sha256sum < "$1" 2>/dev/null || echo -) | cut -d" " -f1; '
                                    'stat -c %s "$1.part" 2>/dev/null || echo 0', "-", dest], timeout=120)
            if not state.ok:
                raise ProviderError(f"{host}: reading {dest} failed: {state.stderr.strip()}")
            have, partial = state.stdout.split()
            if have == digest:
                return False
            offset = int(partial) if attempt == 1 and int(partial) <= size else 0
            script = ('mkdir -p "$(dirname "$1")" && if [ "$2" = 0 ]; then cat > "$1.part"; else cat >> "$1.part"; fi && '
                      'sha256sum < "$1.part" | cut -d" " -f1')
            limit = UPLOAD_FLOOR_S + UPLOAD_S_PER_MIB * (size - offset) / 2**20
            with open(source, "rb") as f:
                f.seek(offset)
                try:
                    res = subprocess.run(self.exec_argv(host, ["sh", "-c", script, "-", dest, str(offset)]), stdin=f,
                                         capture_output=True, timeout=limit)
                except subprocess.TimeoutExpired:
                    raise ProviderError(f"{host}: uploading {source.name} took over {limit:.0f} s; run up again to resume") from None
            if res.returncode != 0:
                raise ProviderError(f"{host}: uploading {source.name} failed: {res.stderr.decode(errors='replace').strip()[-400:]}")
            if res.stdout.decode().strip() == digest:
                must(self.run(host, ["sh", "-c", 'chmod "$2" "$1.part" && mv -f "$1.part" "$1"', "-", dest, mode]),
                     f"{host}: install {dest}")
                return True
            self.run(host, ["rm", "-f", f"{dest}.part"])
        raise ProviderError(f"{host}: {dest} does not match {source} after two uploads")

    def uplink(self) -> Uplink | None:
        """The gateway's uplink, where the provider gives it a static address in a network of
        its own (None: the provider's DHCP configures it, as Vagrant's NAT does)."""
        return None

    def name_lab_nics(self, host) -> None:
        """Give a host's lab NICs the plan's names, where the provider cannot name them at
        creation (VMs: by MAC, in adapter order)."""
        return None

    def is_up(self) -> bool:
        """Is there a lab to talk to (its gateway running)?"""
        return self.running(self.plan.gateway.name)

    def address(self, host, missing_ok: bool = False) -> str | None:
        """A host's lab address as the host itself shows it (not the VIP). One it cannot read
        is an error naming the host, unless ``missing_ok`` (a lease still to come, a status):
        then None."""
        nic = host.lab_nic.ifname
        res = self.run(host.name, ["ip", "-4", "-o", "addr", "show", "dev", nic], timeout=10)
        for line in res.stdout.splitlines():
            addr = line.split()[3].split("/")[0]
            if addr != str(self.plan.vip.address):
                return addr
        if missing_ok:
            return None
        why = (res.stderr.strip() or res.stdout.strip() or f"exit {res.rc}") if not res.ok else f"no IPv4 address on {nic}"
        raise ProviderError(f"{host.name}: its lab address could not be read over the {self.name} provider ({why}); "
                            f"is the host up? (python -m provision status)")

    def management_nics(self, host) -> set[str]:
        """NICs the provider gives a host for its own use, which are not the plan's."""
        return set()

    def hosts_are_containers(self) -> bool:
        """Do the hosts run as containers (sharing the machine's kernel, CPUs, memory, disks)?"""
        res = self.run(self.plan.gateway.name, ["systemd-detect-virt", "--container"], timeout=15)
        return res.ok

    def stats_password(self) -> str | None:
        """HAProxy's stats password, where the provider knows it."""
        return None

    def outside_target(self) -> OutsideTarget | None:
        return None

    @abc.abstractmethod
    def poweroff(self, host: str) -> None: ...

    @abc.abstractmethod
    def start(self, host: str) -> None: ...

    @abc.abstractmethod
    def isolate(self, host: str) -> None: ...

    @abc.abstractmethod
    def heal(self, host: str) -> None: ...

    def spawn(self, host: str, argv: list[str], output: Path) -> subprocess.Popen:
        """Start a bounded program on a host in the background, its stdout to ``output``."""
        raise NotImplementedError(f"the {self.name} provider cannot run background programs")

    def connect_argv(self, host: str, address: str, port: int) -> list[str]:
        """A command whose stdin/stdout is a TCP stream to ``address:port`` as ``host`` sees
        it: how clients on this machine reach the lab (see provision.tunnel)."""
        raise NotImplementedError(f"the {self.name} provider cannot open a stream into the lab")

    def shell_argv(self, host: str, command: list[str]) -> list[str]:
        """The command line that runs ``command`` interactively on a host."""
        raise NotImplementedError(f"the {self.name} provider has no interactive shell")

    def kill(self, host: str, process: str) -> Result:
        """SIGKILL a service's processes on a host (systemd restarts it if its unit says so)."""
        return self.run(host, ["systemctl", "kill", "--signal=SIGKILL", process])

    #: How much slower than hardware this provider's hosts are (VMs under software emulation):
    #: every wait of the steps is this many times longer.
    wait_scale: float = 1.0

    def wait_for(self, what: str, check, timeout: float, interval: float = 0.2):
        """Poll ``check()`` until it returns something truthy; bounded in time."""
        return until(check, timeout * self.wait_scale, what, interval)


_digests: dict[tuple[str, int, int], str] = {}


def _sha256(path: Path) -> str:
    """A file's sha256, remembered while the file is unchanged (the same archive goes to
    every node)."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _digests:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _digests[key] = h.hexdigest()
    return _digests[key]
