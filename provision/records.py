"""The demo's claim writer (roles/addons/demo-records.yaml.j2) as the lab shows it: the records
it acknowledged (its log, with kubelet's timestamps), the Gluster volume under its claim, and the
records each brick holds. The chaos suite and talk mode hold the volume to them (STO-06)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from provision.facts import kubectl_json
from provision.kubeclient import ADMIN_CONF
from provision.roles import addons


@dataclass(frozen=True)
class Ack:
    """A record the writer saw on disk (fsync'ed), and when kubelet logged its word for it."""

    t: float
    record: str


def parse(log: str) -> tuple[list[Ack], list[Ack]]:
    """The acknowledged and the failed records of a log read with --timestamps."""
    acked: list[Ack] = []
    failed: list[Ack] = []
    for line in log.splitlines():
        stamp, _, text = line.partition(" ")
        word, _, record = text.partition(" ")
        if word not in ("ok", "failed") or not record:
            continue
        try:
            t = datetime.fromisoformat(stamp).timestamp()
        except ValueError:
            continue
        (acked if word == "ok" else failed).append(Ack(t, record))
    return acked, failed


def log_since(lab, since: float) -> str | None:
    """The writer's log from ``since`` (time.time()) on, from the first master that answers;
    None while none does or the writer has no pod."""
    # the API takes whole seconds: a second early, and the caller filters
    stamp = datetime.fromtimestamp(int(since) - 1, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for m in lab.plan.masters:
        res = lab.run(m.name, ["kubectl", f"--kubeconfig={ADMIN_CONF}", "-n", addons.DEMO_NAMESPACE, "logs",
                               f"deployment/{addons.RECORDS_WRITER}", "--timestamps", f"--since-time={stamp}"], timeout=20)
        if res.ok:
            return res.stdout
    return None


def acks_since(lab, since: float) -> list[Ack] | None:
    """Records acknowledged from ``since`` on; None while the log cannot be read."""
    log = log_since(lab, since)
    if log is None:
        return None
    return [a for a in parse(log)[0] if a.t >= since]


def acks_after(lab, t: float) -> list[Ack]:
    """Records acknowledged strictly after ``t``; none while the log cannot be read (a wait
    goes on asking)."""
    return [a for a in acks_since(lab, t) or [] if a.t > t]


def refused(samples: list[dict], fault: float) -> list[float]:
    """Seconds after ``fault`` of each write the writer had refused (a stall is no refusal)."""
    return [s["t"] - fault for s in samples if s["result"] == "failed" and s["t"] >= fault]


def samples_since(lab, since: float) -> list[dict] | None:
    """The writer's records from ``since`` on as a timeline's probe samples (t, result); None
    while the log cannot be read."""
    log = log_since(lab, since)
    if log is None:
        return None
    acked, failed = parse(log)
    return sorted(({"t": a.t, "result": result, "record": a.record} for result, xs in (("ok", acked), ("failed", failed))
                   for a in xs if a.t >= since), key=lambda x: x["t"])


def writing(lab) -> bool:
    """The lab has the demo's writer (a cluster with the storage step done)."""
    return kubectl_json(lab, "-n", addons.DEMO_NAMESPACE, "get", "deployment", addons.RECORDS_WRITER) is not None


def volume(lab) -> str:
    """The Gluster volume under the demo's claim."""
    pvc = kubectl_json(lab, "-n", addons.DEMO_NAMESPACE, "get", "pvc", addons.RECORDS_CLAIM)
    if pvc is None or not pvc["spec"].get("volumeName"):
        raise LookupError(f"the demo's claim {addons.RECORDS_CLAIM} is not bound")
    pv = kubectl_json(lab, "get", "pv", pvc["spec"]["volumeName"])
    return pv["spec"]["csi"]["volumeAttributes"]["volume"]


def bricks(lab, name: str) -> dict[str, str]:
    """Gluster node -> its brick of volume ``name``, as glusterd lists them."""
    by_fqdn = {lab.plan.fqdn(g): g.name for g in lab.plan.glusters}
    for g in lab.plan.glusters:
        res = lab.run(g.name, ["gluster", "volume", "info", name, "--xml"], timeout=30)
        if res.ok:
            out = {}
            for b in ET.fromstring(res.stdout).iter("brick"):
                node, _, path = (b.findtext("name") or "").partition(":")
                out[by_fqdn.get(node, node)] = path
            return out
    raise LookupError(f"no Gluster node answers for volume {name}")


def lost(lab, name: str, acked: Iterable[str]) -> dict[str, list[str]]:
    """Per brick of volume ``name``, the acknowledged records it lacks (none: nothing lost)."""
    want = set(acked)
    out = {}
    for node, path in bricks(lab, name).items():
        res = lab.run(node, ["cat", f"{path}/{addons.RECORDS_FILE}"], timeout=30)
        have = set(res.stdout.splitlines()) if res.ok else set()
        missing = sorted(want - have)
        if missing:
            out[node] = missing
    return out


def described(missing: dict[str, list[str]]) -> str:
    """What lost() found, per brick: how many records and the first."""
    return "; ".join(f"{node}: {len(m)}, first {m[0]!r}" for node, m in missing.items())
