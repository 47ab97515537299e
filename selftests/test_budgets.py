"""Recovery budgets: predicted from the plan's own settings, overridable, and a figure over its
budget fails its scenario's promise (after the restore), one within it does not."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from provision import topology
from provision.deadlines import budgets, deadlines
from selftests.conftest import _RAW

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[1]


def test_budgets_follow_the_plans_settings(build):
    plan = topology.load()
    b = budgets(plan)
    c = plan.corosync
    assert b["vip_gap"].seconds == pytest.approx((c.token + c.consensus) / 1000 + 10)
    assert "token 3 s" in b["vip_gap"].why
    # a slower corosync in the plan: a larger budget, not the same literal
    import copy

    raw = copy.deepcopy(_RAW)
    raw["corosync"]["token"] = 6000
    slower = budgets(build(raw))
    assert slower["vip_gap"].seconds == pytest.approx(6 + 6 * 1.2 + 10)  # consensus: 1.2 x token
    assert b["haproxy_mark_down"].seconds == pytest.approx(plan.haproxy.fall * (2 + 4) + 10)


def test_budgets_are_tighter_than_the_waits_that_measure_them():
    plan = topology.load()
    b, d = budgets(plan), deadlines(plan)
    for key, wait in (("vip_gap", d.vip_failover_s), ("haproxy_restart", d.haproxy_restart_s), ("etcd_leader", d.etcd_election_s),
                      ("gluster_heal", d.gluster_heal_s), ("haproxy_mark_down", d.haproxy_mark_down_s),
                      ("haproxy_take_back", d.master_return_s), ("node_not_ready", d.worker_eviction_s)):
        assert b[key].seconds < wait, f"{key}: a figure over budget must be measured, not cut off by its wait"


def test_a_budget_can_be_overridden_and_a_wrong_key_is_named():
    plan = topology.load()
    assert budgets(plan, {"vip_gap": 25})["vip_gap"].seconds == 25
    with pytest.raises(ValueError, match="no such budget; use one of vip_gap"):
        budgets(plan, {"vip_gapp": 25})


@pytest.fixture
def chaos_project(pytester: pytest.Pytester) -> pytest.Pytester:
    # Its figures go to its own reports/, never into the repository's (a CI run's report
    # would show them as measured). Set by its conftest, on the very module whose hooks the
    # run takes: a patch from here once reached another copy of chaos.conftest, after an
    # earlier self-test had imported the chaos package, and the figures leaked.
    shutil.copy(ROOT / "conftest.py", pytester.path / "conftest.py")
    with (pytester.path / "conftest.py").open("a") as f:
        f.write(
            "\nimport pathlib, types, pytest\nfrom chaos.conftest import *  # the chaos suite's fixtures and hooks\n"
            "import chaos.conftest\nchaos.conftest.REPORTS = pathlib.Path(__file__).parent / 'reports'\n"
            "from provision import topology\n"
            "@pytest.fixture(scope='session')\n"
            "def lab():\n"
            "    no = types.SimpleNamespace(ok=False, stdout='', stderr='')\n"
            "    return types.SimpleNamespace(name='fake', plan=topology.load(), capabilities={'chaos'}, run=lambda *a, **k: no)\n"
        )
    pytester.syspathinsert(ROOT)
    pytester.makepyfile(
        """
        import pytest
        from chaos.conftest import record
        @pytest.mark.promise("LB-06")
        def test_slow_failover(budget):
            record("VIP gap", 38.6, budget["vip_gap"])  # the 39 s gap that once passed LB-06
        @pytest.mark.promise("LB-08")
        def test_quick_mark_down(budget):
            record("mark down", budget["haproxy_mark_down"].seconds - 1, budget["haproxy_mark_down"])
        """
    )
    return pytester


def test_a_figure_over_budget_fails_its_promise(chaos_project):
    result = chaos_project.runpytest("-p", "no:cacheprovider", "--provider", "local", "--allow-absent")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*over budget: VIP gap took 38.60 s, budget 16.6 s (corosync token*", "*VIP gap*budget 16.6 s: OVER*"])
    status = {r["id"]: r["status"] for r in json.loads((chaos_project.path / "reports" / "promises.json").read_text())["promises"]}
    assert status["LB-06"] == "failed" and status["LB-08"] == "passed"


def test_an_overridden_budget_judges_instead(chaos_project):
    result = chaos_project.runpytest("-p", "no:cacheprovider", "--provider", "local", "--allow-absent", "--budget", "vip_gap=60")
    result.assert_outcomes(passed=2)
    assert "VIP gap" in json.loads((chaos_project.path / "reports" / "recovery.json").read_text())


def test_hosts_slower_than_hardware_scale_the_margin_not_the_timers():
    """Smoke run 22 on VMs five times slower: the VIP's and haproxy's start took about 17 s of a
    23.6 s gap; corosync's token and consensus took what the plan says (6.4 s)."""
    from provision.deadlines import BUDGET_MARGIN_S

    plan = topology.load()
    c = plan.corosync
    slow, d = budgets(plan, slowdown=5), deadlines(plan)
    assert slow["vip_gap"].seconds == pytest.approx((c.token + c.consensus) / 1000 + BUDGET_MARGIN_S * 5)
    assert f"{BUDGET_MARGIN_S:g} s x 5" in slow["vip_gap"].why
    assert slow["vip_gap"].seconds < d.vip_failover_s * 5  # still measured by a wait that scales too
    # the control: hardware keeps the plain margin, said as before
    assert budgets(plan)["vip_gap"].seconds == pytest.approx((c.token + c.consensus) / 1000 + BUDGET_MARGIN_S)
    assert " x " not in budgets(plan)["vip_gap"].why
    assert budgets(plan, {"vip_gap": 25}, slowdown=5)["vip_gap"].seconds == 25  # the user's word wins
