"""The demo's claim writer: its script acknowledges a record only after dd's fsync returned,
and its log reads back as acknowledged and failed records."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from provision import records, topology
from provision.providers.base import Result
from provision.roles import addons

PLAN = topology.load()
#: The brick of claim volume pvc-1, where the volume service puts it
BRICK = f"{PLAN.gluster.volume_service.brick_root}/pvc-1/brick"


def _writer_script(path: str, count: int) -> str:
    docs = {d["kind"]: d for d in yaml.safe_load_all(addons.demo_records(PLAN, "x.invalid/busybox:1")) if d}
    assert docs["PersistentVolumeClaim"]["spec"]["storageClassName"] == PLAN.gluster.storage_class.name
    script = docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]["command"][2]
    return (script.replace(f"{addons.RECORDS_MOUNT}/{addons.RECORDS_FILE}", path)
            .replace(str(addons.RECORDS_PER_RUN), str(count)).replace(f"sleep {addons.RECORDS_INTERVAL_S}", "true"))


@pytest.mark.skipif(shutil.which("dd") is None, reason="no dd on this machine")
def test_the_writer_acknowledges_what_is_on_disk_and_says_what_failed(tmp_path):
    target = tmp_path / "records"
    out = subprocess.run(["sh", "-c", _writer_script(str(target), 3)], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    assert [ln.split()[0] for ln in lines] == ["ok"] * 3
    assert [ln.removeprefix("ok ") for ln in lines] == target.read_text().splitlines()
    # failing side: a file that cannot be written is never acknowledged
    bad = subprocess.run(["sh", "-c", _writer_script(str(tmp_path / "missing-dir" / "records"), 2)],
                         capture_output=True, text=True, check=True).stdout
    assert [ln.split()[0] for ln in bad.splitlines()] == ["failed", "failed"]


def test_a_log_reads_as_acknowledged_and_failed_records():
    log = ("2026-12-05T02:03:04.100000000Z ok demo-records-x 1700000000 1\n"
           "2026-12-05T02:03:04.300000000Z failed demo-records-x 1700000000 2\n"
           "2026-12-05T02:03:04.500000000Z something else\n"
           "not a stamp ok a 1 3\n")
    acked, failed = records.parse(log)
    assert [a.record for a in acked] == ["demo-records-x 1700000000 1"]
    assert [a.record for a in failed] == ["demo-records-x 1700000000 2"]
    assert failed[0].t - acked[0].t == pytest.approx(0.2)


class _Lab:
    """Three Gluster nodes whose bricks of one volume hold ``bricks[node]``."""

    def __init__(self, bricks: dict[str, str]) -> None:
        self.plan = PLAN
        self.bricks = bricks

    def run(self, host, argv, timeout=60):
        if argv[:3] == ["gluster", "volume", "info"]:
            xml = "".join(f"<brick><name>{PLAN.fqdn(g)}:{BRICK}</name></brick>" for g in PLAN.glusters)
            return Result(0, f"<cliOutput><volInfo><volumes><volume>{xml}</volume></volumes></volInfo></cliOutput>", "")
        if argv[0] == "cat":
            assert argv[1] == f"{BRICK}/{addons.RECORDS_FILE}"
            return Result(0, self.bricks[host], "")
        raise AssertionError(argv)


def test_a_record_missing_from_one_brick_is_named_with_that_brick():
    full = "w 1 1\nw 1 2\nw 1 3\n"
    whole = _Lab({g.name: full for g in PLAN.glusters})
    assert records.lost(whole, "pvc-1", ["w 1 1", "w 1 3"]) == {}
    short = _Lab({**whole.bricks, PLAN.glusters[-1].name: "w 1 1\nw 1 2\nw 1 3"[:-6]})  # the last record cut off
    assert records.lost(short, "pvc-1", ["w 1 1", "w 1 3"]) == {PLAN.glusters[-1].name: ["w 1 3"]}


def test_acks_after_are_strictly_later_and_none_while_the_log_is_unread(monkeypatch):
    log = ("2026-12-05T02:03:04.000000000Z ok w 1 1\n"
           "2026-12-05T02:03:05.000000000Z ok w 1 2\n")
    t = records.parse(log)[0][0].t
    monkeypatch.setattr(records, "log_since", lambda lab, since: log)
    assert [a.record for a in records.acks_after(None, t)] == ["w 1 2"]  # not the one at t itself
    monkeypatch.setattr(records, "log_since", lambda lab, since: None)
    assert records.acks_after(None, t) == []
    node = PLAN.glusters[-1].name
    assert records.described({node: ["w 1 3", "w 1 4"]}) == f"{node}: 2, first 'w 1 3'"


def test_writes_refused_after_a_fault_are_told_from_a_stall():
    fault = 1000.0
    stalled = [{"t": 999.5, "result": "ok"}, {"t": 1008.0, "result": "ok"}, {"t": 1008.5, "result": "ok"}]
    assert records.refused(stalled, fault) == []
    # the failing side: an acknowledgement in flight, then a minute of refusals (CI's demo claim)
    refusing = [{"t": 999.5, "result": "ok"}, {"t": 1000.3, "result": "ok"},
                *({"t": 1000.5 + i * 0.5, "result": "failed"} for i in range(120)), {"t": 1061.0, "result": "ok"}]
    got = records.refused(refusing, fault)
    assert len(got) == 120 and got[0] == pytest.approx(0.5) and got[-1] == pytest.approx(60.0)
    # refusals before the fault are not this fault's
    assert records.refused([{"t": 990.0, "result": "failed"}], fault) == []
