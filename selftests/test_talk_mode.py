"""Talk mode's screen and keys without a lab: it fits 80x24 and says everything in words,
each key names its promise and picks the host its fault is about, and what was killed
comes back on r and q. The lab self-test drives it in tmux."""

from __future__ import annotations

import io
import json
import re
import threading
import time

import pytest
from rich.console import Console

from provision import talk, topology
from provision.demo import BRICKS, CLAIM, CLAIM_READ, KEYS, Dashboard
from provision.errors import UnderhoodError
from provision.waiting import until

PLAN = topology.load()


class Lab:
    """Records power commands; hosts otherwise running."""

    def __init__(self) -> None:
        self.plan = PLAN
        self.powered_off: list[str] = []
        self.started: list[str] = []

    def poweroff(self, host: str) -> None:
        self.powered_off.append(host)

    def start(self, host: str) -> None:
        self.started.append(host)


def dashboard(tmp_path, **state) -> Dashboard:
    d = Dashboard(Lab(), tmp_path)
    d.state.update(hosts={h.name: True for h in PLAN.hosts}, vip=PLAN.loadbalancers[0].name, leader=PLAN.masters[1].name,
                   etcd_ok=True, nodes={h.name: True for h in (*PLAN.masters, *PLAN.workers)},
                   coredns=[m.name for m in PLAN.masters], address=str(PLAN.metallb.start), announcer=PLAN.workers[-1].name)
    now = time.time()
    d.state[CLAIM] = [{"t": now - 10 + i * 0.2, "result": "ok"} for i in range(50)]
    d.state[CLAIM_READ] = now
    d.state[BRICKS] = {PLAN.gluster.volume: len(PLAN.glusters), CLAIM: len(PLAN.glusters)}
    d.state.update(state)
    (tmp_path / "demo-api-probe.jsonl").write_text("".join(json.dumps({"t": now - 10 + i * 0.2, "result": "ok"}) + "\n"
                                                           for i in range(50)))
    d.probes["demo"] = type(d.probes["API"])(d.lab, d.admin, "tcp_probe", [], tmp_path / "demo-address-probe.jsonl")
    return d


def screen(d: Dashboard) -> list[str]:
    out = io.StringIO()
    Console(file=out, width=80, height=24, color_system=None).print(d.render())
    return out.getvalue().rstrip("\n").splitlines()


def test_the_screen_fits_80_by_24_with_every_host_and_key(tmp_path):
    lines = screen(dashboard(tmp_path))
    text = "\n".join(lines)
    assert len(lines) <= 23, f"{len(lines)} lines: more than a 24-line terminal shows below its prompt\n{text}"
    assert max(len(ln) for ln in lines) <= 80
    for h in PLAN.hosts:
        assert f"{h.name} up" in text
    for k in KEYS:
        assert f"{k.key} {k.what} {k.promise}" in " ".join(text.split()), k
    assert f"API {PLAN.vip.address}:{PLAN.vip.port} answering" in " ".join(text.split())
    assert f"demo {PLAN.metallb.start}:80 NOT answering" in " ".join(text.split())  # no sample yet: not a green light
    assert "claim records writing" in " ".join(text.split())
    assert f"hosts · bricks running: {PLAN.gluster.volume} 3/3 · claim 3/3" in text


def test_a_brick_down_shows_in_words(tmp_path):
    d = dashboard(tmp_path, **{BRICKS: {PLAN.gluster.volume: 3, CLAIM: 2}})
    assert f"bricks running: {PLAN.gluster.volume} 3/3 · claim 2/3" in " ".join(screen(d))


def test_the_claims_writer_stalling_and_its_gap_show(tmp_path):
    now = time.time()
    stalled = dashboard(tmp_path, **{CLAIM: [{"t": now - 20 + i * 0.2, "result": "ok"} for i in range(50)]})
    assert "claim records NOT writing" in " ".join(" ".join(screen(stalled)).split())  # last record 10 s old
    # a log that cannot be read (the API moving with the VIP) is no stall
    stalled.state[CLAIM_READ] = now - 10
    assert "claim records unknown: its log unread" in " ".join(" ".join(screen(stalled)).split())
    d = dashboard(tmp_path)
    last = d.state[CLAIM][-1]["t"]
    d.fault(KEYS[-1])
    assert CLAIM in d.pending
    # records again 1.5 s after the fault: the gap runs from the last record before it
    d.state[CLAIM] = d.state[CLAIM] + [{"t": now + 1.5, "result": "ok"}]
    d.measure_gaps()
    assert d.gaps[CLAIM] == pytest.approx(now + 1.5 - last)
    assert d.events[0] == f"gaps: claim {now + 1.5 - last:.2f} s"
    # the API's gap joins the same line: the fault's line stays in view below it
    with (tmp_path / "demo-api-probe.jsonl").open("a") as f:
        f.write(json.dumps({"t": now + 2, "result": "ok"}) + "\n")
    d.measure_gaps()
    assert d.events[0].startswith(f"gaps: claim {now + 1.5 - last:.2f} s · API ") and "STO-06: poweroff" in d.events[1]


def test_a_stall_longer_than_the_screen_still_gets_its_gap(tmp_path, monkeypatch):
    """The writer's pod restarting on a node that came back stalls it for longer than the
    screen's window: the gap still runs from the last record before the fault."""
    now = time.time()
    log = [{"t": now - 70 + i * 0.5, "result": "ok"} for i in range(21)]  # the last at now - 60
    monkeypatch.setattr("provision.demo.records.samples_since", lambda lab, since: [s for s in log if s["t"] >= since])
    d = dashboard(tmp_path, **{CLAIM: [], CLAIM_READ: now - 75})
    d.state.update(d._claim())  # read then, a while ago
    d.state[CLAIM_READ] = now - 58
    d.fault(KEYS[-1])
    d.pending[CLAIM] = now - 45
    log += [{"t": now - 1, "result": "ok"}, {"t": now - 0.5, "result": "ok"}]
    d.state.update(d._claim())
    d.measure_gaps()
    assert d.gaps.get(CLAIM) == pytest.approx(59), d.state[CLAIM][-3:]
    # read again at once: nothing counted twice, nothing lost
    d.state.update(d._claim())
    assert len(d.state[CLAIM]) == len(log)


def test_faults_show_in_words_not_only_colours(tmp_path):
    worker = PLAN.workers[-1].name
    d = dashboard(tmp_path, hosts={h.name: h.name != worker for h in PLAN.hosts}, etcd_ok=False, nodes={worker: False, PLAN.workers[0].name: True})
    text = " ".join(" ".join(screen(d)).split())
    assert f"{worker} DOWN" in text and "DEGRADED" in text and "1/2 Ready" in text and f"NotReady: {worker.removeprefix('kube-')}" in text
    d.state["nodes"] = None
    assert "the API does not answer" in " ".join(" ".join(screen(d)).split())


def test_each_key_kills_the_host_its_promise_is_about(tmp_path):
    d = dashboard(tmp_path)
    expected = {"v": PLAN.loadbalancers[0].name, "e": PLAN.masters[1].name, "m": PLAN.masters[-1].name,
                "w": PLAN.workers[-1].name, "g": PLAN.glusters[-1].name}
    for key, host in expected.items():
        assert d.key(key) is True
        until(lambda host=host: host in d.lab.powered_off, 5, f"{key}: {host} powered off", interval=0.01)
        assert d.lab.powered_off[-1] == host, (key, d.lab.powered_off)
    assert d.down == set(expected.values())


def test_no_second_master_while_one_is_down_and_q_restores(tmp_path):
    d = dashboard(tmp_path, hosts={h.name: h.name != PLAN.masters[0].name for h in PLAN.hosts})
    d.key("m")
    assert d.lab.powered_off == [] and "nothing to kill now" in d.events[0]  # quorum stays
    d.key("g")
    assert d.key("q") is False
    d.restore()
    assert d.lab.started == [PLAN.glusters[-1].name] and not d.down


# -- talk scripts ------------------------------------------------------------------------------
def test_the_default_script_parses_and_uses_every_key():
    script = talk.load("default")
    assert {s.arg for s in script.steps if s.kind == "fault"} == {k.key for k in KEYS}
    assert any(s.kind == "pause" for s in script.steps)


@pytest.mark.parametrize(("text", "named"), [
    ("- fault: x", "step 1: fault 'x': give one of the keys"),
    ("- say: hi\n- wait: forever", "step 2: wait 'forever': give recovered or whole"),
    ("- dance: now", "step 1: 'dance' is no step"),
    ("not: a list", "give a list of steps"),
    ("- [v, e]", "step 1"),
])
def test_a_wrong_step_is_named_with_its_place_and_the_fix(text, named):
    with pytest.raises(UnderhoodError, match=re.escape(named)):
        talk.parse(text)


def test_a_script_runs_its_faults_in_order_pauses_for_the_speaker_and_writes_the_figures(tmp_path):
    d = dashboard(tmp_path)
    script = talk.parse("- pause: first\n- fault: v\n- wait: recovered\n- restore\n- wait: whole\n- fault: g\n- wait: recovered\n")
    runner = talk.Runner(d, script, tmp_path / "reports")

    def screen_measures() -> None:  # what the screen does four times a second: gaps measured
        while not runner.done.is_set():
            if d.pending:
                d.gaps = {name: 7.5 for name in d.pending}
                d.pending = {}
            time.sleep(0.01)

    threading.Thread(target=screen_measures, daemon=True).start()
    worker = threading.Thread(target=runner.run, daemon=True)
    worker.start()
    time.sleep(0.3)
    assert d.lab.powered_off == [], "a pause went on without the speaker"
    runner.go.set()
    worker.join(10)
    assert runner.done.is_set()
    assert d.lab.powered_off == [PLAN.loadbalancers[0].name, PLAN.glusters[-1].name]
    assert d.lab.started == [PLAN.loadbalancers[0].name]
    figures = json.loads((tmp_path / "reports" / "talk.json").read_text())["faults"]
    assert [(f["promise"], f["host"], f["gaps"]) for f in figures] == [
        ("LB-06", PLAN.loadbalancers[0].name, {"API": 7.5, "demo": 7.5, CLAIM: 7.5}),
        ("STO-06", PLAN.glusters[-1].name, {"API": 7.5, "demo": 7.5, CLAIM: 7.5})]
