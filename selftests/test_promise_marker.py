"""The promise marker: unknown IDs are refused; the coverage table lists every promise."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from provision.promises import Coverage, promises

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    shutil.copy(ROOT / "conftest.py", pytester.path / "conftest.py")
    pytester.syspathinsert(ROOT)
    return pytester


def test_unknown_promise_id_is_refused(project):
    project.makepyfile(
        """
        import pytest
        @pytest.mark.promise("NET-99")
        def test_x():
            assert 1 + 1 == 2
        """
    )
    result = project.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown promise ID(s) NET-99*"])


def test_coverage_table_counts_outcomes_and_lists_uncovered(project):
    project.makepyfile(
        """
        import pytest
        @pytest.mark.promise("NET-01")
        def test_pass():
            assert True
        @pytest.mark.promise("NET-02", "NET-03")
        def test_fail():
            assert False
        @pytest.mark.promise("HOST-02")
        def test_skip():
            pytest.skip("the local provider cannot show a VM's CPU count")
        """
    )
    result = project.runpytest("-p", "no:cacheprovider", "--provider", "local")
    result.assert_outcomes(passed=1, failed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "*promise coverage (provider: local)*",
            "NET-01*passed*1 passed*",
            "NET-02*failed*",
            "HOST-02*skipped*cannot show a VM's CPU count*",
            "LB-06*not covered*",
        ]
    )
    data = json.loads((project.path / "reports" / "promises.json").read_text())
    status = {row["id"]: row["status"] for row in data["promises"]}
    assert status["NET-01"] == "passed" and status["NET-03"] == "failed" and status["HOST-02"] == "skipped"
    assert data["summary"]["not covered"] == len(promises()) - 4


def test_reports_dir_takes_the_coverage_elsewhere(project):
    project.makepyfile(
        """
        import pytest
        @pytest.mark.promise("NET-01")
        def test_pass():
            assert True
        """
    )
    elsewhere = project.path / "elsewhere"
    project.runpytest("-p", "no:cacheprovider", "--provider", "local", f"--reports-dir={elsewhere}").assert_outcomes(passed=1)
    assert json.loads((elsewhere / "promises" / "local-tests.json").read_text())["promises"]
    assert not (project.path / "reports").exists(), "the run also wrote the usual reports/"


def test_coverage_status_rules():
    cov = Coverage(provider="local")
    cov.record(["LB-06"], "a", "skipped", "no lab")
    assert cov.status("LB-06") == "skipped"
    cov.record(["LB-06"], "b", "passed")
    assert cov.status("LB-06") == "partial"  # one passed, one skipped: not proven whole
    cov.record(["LB-09"], "b", "passed")
    assert cov.status("LB-09") == "passed"
    cov.record(["LB-06"], "c", "failed")
    assert cov.status("LB-06") == "failed"
    assert cov.status("LB-07") == "not covered"


def test_a_teardown_that_fails_counts_against_the_promise(project):
    # a chaos scenario whose restore (the lab settled again) fails did not prove its promise
    project.makepyfile(
        """
        import pytest
        @pytest.fixture
        def settled():
            yield
            raise AssertionError("the lab did not settle")
        @pytest.mark.promise("LB-06")
        def test_scenario(settled):
            assert True
        @pytest.mark.promise("LB-07")
        def test_control():
            assert True
        """
    )
    result = project.runpytest("-p", "no:cacheprovider", "--provider", "local")
    result.assert_outcomes(passed=2, errors=1)
    data = json.loads((project.path / "reports" / "promises.json").read_text())
    status = {row["id"]: row["status"] for row in data["promises"]}
    assert status["LB-06"] == "failed" and status["LB-07"] == "passed"


@pytest.fixture
def suite(project: pytest.Pytester, tmp_path: Path) -> pytest.Pytester:
    """A suite against the lab, as tests/ is, with a plan whose lab is never up here."""
    shutil.copy(ROOT / "tests" / "conftest.py", project.path / "conftest_suite.py")
    (project.path / "conftest.py").write_text((ROOT / "conftest.py").read_text() + "\nfrom conftest_suite import pytest_sessionstart\n")
    raw = yaml.safe_load((ROOT / "provision" / "lab.yaml").read_text())
    raw["lab"]["prefix"] = "uhx"
    (project.path / "absent.yaml").write_text(yaml.safe_dump(raw))
    project.makepyfile(
        """
        import pytest
        @pytest.mark.promise("LB-03")
        def test_needs_the_lab(lab):
            assert lab.is_up()
        @pytest.mark.promise("NET-01")
        def test_plan_only(plan):
            assert plan.gateway
        """
    )
    return project


def test_a_suite_with_no_lab_up_fails_in_one_line(suite):
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", "--provider", "local", "--plan", "absent.yaml")
    assert result.ret == 2
    out = "\n".join(result.outlines + result.errlines)
    assert "no lab is up (local provider): run `tox -e provision` first" in out
    assert "passed" not in out and "skipped" not in out


def test_allow_absent_skips_what_needs_the_lab_and_runs_the_rest(suite):
    # the positive control of the refusal above: the same suite runs, the lab's test skipped
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", "--provider", "local", "--plan", "absent.yaml", "--allow-absent")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*LB-03*skipped*no lab is up*"])


def test_the_lab_fixture_fails_without_a_lab_where_no_suite_checked_first(project, tmp_path):
    # a repository of one's own without require_lab: the lab's tests error, never skip
    raw = yaml.safe_load((ROOT / "provision" / "lab.yaml").read_text())
    raw["lab"]["prefix"] = "uhx"
    (project.path / "absent.yaml").write_text(yaml.safe_dump(raw))
    project.makepyfile("def test_needs_the_lab(lab):\n    assert lab\n")
    result = project.runpytest("-p", "no:cacheprovider", "--provider", "local", "--plan", "absent.yaml")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*no lab is up (local provider)*"])


def test_an_admin_conf_beside_the_vip_fails_the_kubernetes_tests(project):
    # K8S-02/K8S-04 check that admin.conf leads through the VIP: that broken must be red,
    # never a column of skips
    project.makeconftest(
        (ROOT / "conftest.py").read_text() + '''
import types, pytest, yaml
from provision import topology
@pytest.fixture(scope="session")
def lab():
    plan = topology.load()
    conf = {"clusters": [{"cluster": {"server": "https://192.168.1.11:6443"}}]}
    ok = types.SimpleNamespace(ok=True, stdout=yaml.safe_dump(conf), stderr="")
    return types.SimpleNamespace(name="fake", plan=plan, capabilities={"kubernetes"}, run=lambda *a, **k: ok)
'''
    )
    project.makepyfile("import pytest\n@pytest.mark.promise('K8S-03')\ndef test_api(k8s):\n    assert k8s\n")
    result = project.runpytest("-p", "no:cacheprovider", "--provider", "local")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*K8S-02: /etc/kubernetes/admin.conf points at https://192.168.1.11:6443, not the VIP*"])


def test_admin_conf_through_the_vip_is_accepted():
    from provision import kubeclient, topology

    plan = topology.load()
    kubeclient.check_server({"clusters": [{"cluster": {"server": f"https://{plan.vip.address}:{plan.vip.port}"}}]}, plan)
    with pytest.raises(kubeclient.NotThroughTheVip):
        kubeclient.check_server({"clusters": [{"cluster": {"server": f"https://{plan.masters[0].lab_nic.address}:6443"}}]}, plan)


def test_a_promise_claimed_as_a_run_goes_counts_and_nothing_else(project):
    # the random chaos scenario claims a promise only once a round exercised it
    project.makepyfile(
        """
        import pytest
        def test_rounds(request):
            request.node.add_marker(pytest.mark.promise("LB-06"))
            assert True
        """
    )
    project.runpytest("-p", "no:cacheprovider", "--provider", "local").assert_outcomes(passed=1)
    data = json.loads((project.path / "reports" / "promises.json").read_text())
    status = {row["id"]: row["status"] for row in data["promises"]}
    assert status["LB-06"] == "passed" and status["ETCD-03"] == "not covered" and status["STO-06"] == "not covered"


def test_host_is_underhoods_not_testinfras(project):
    # both plugins define `host`; ours (host(name) -> a testinfra Host) must be the one used,
    # whatever order the entry points load in
    project.makeconftest(
        (ROOT / "conftest.py").read_text() + '''
import types, pytest
@pytest.fixture(scope="session")
def lab():
    return types.SimpleNamespace(name="fake")
'''
    )
    project.makepyfile("def test_host(host):\n    assert callable(host) and host.__name__ == '_get'\n")
    project.runpytest("-p", "no:cacheprovider", "-p", "testinfra", "--provider", "local").assert_outcomes(passed=1)


def test_a_plan_without_an_admin_host_skips_the_tests_whose_client_runs_there(build, raw):
    from provision import topology
    from provision.pytest_plugin import admin_host

    plan = topology.load()
    assert admin_host(plan) in plan.hosts and admin_host(plan).role == "admin"  # the control: the default plan has one
    raw["hosts"] = [h for h in raw["hosts"] if h["role"] != "admin"]
    with pytest.raises(pytest.skip.Exception, match=r"no admin host \(role: admin\)"):
        admin_host(build(raw))
