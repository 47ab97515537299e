"""One run of Kubernetes' e2e tests against the lab, from the admin host through the VIP, as
the documents' admin works: e2e.test, ginkgo and kubectl delivered there, the test images
imported into every node's containerd, ginkgo's JUnit brought back into reports/."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from provision import baseimage, kubeclient
from provision.conformance import images, results, subset
from provision.errors import ProviderError
from provision.kube import binaries
from provision.steps.kubernetes import deliver, import_images
from provision.version import version

#: The run's files on the admin host.
WORK = "/var/lib/underhood/e2e"
DRIVER_FILE = f"{WORK}/storage-driver.yaml"
CLASS_FILE = f"{WORK}/storage-class.yaml"
PID_FILE = f"{WORK}/run.pid"
#: Parallel ginkgo processes: each runs its tests' pods; two keep a 2-core machine's lab
#: from timing tests out on its own load.
PROCS = 2


def prepare(p, log: Callable[[str], None]) -> dict[str, str]:
    """Build what the run needs (cached), deliver it; the paths on the admin host ("admin":
    its name)."""
    admin = p.plan.host(kubeclient.entry_host(p))
    base_root = baseimage.ensure(p.plan, log)
    e2e = binaries.build(binaries.E2E, log)
    tools = binaries.build(binaries.E2E_TOOLS, log)
    kubectl = binaries.build(binaries.KUBERNETES, log) / "kubectl"
    archives = images.ensure(base_root, p.plan.versions.debian, log)
    nodes = [h for h in p.plan.hosts if h.role in ("master", "worker")]
    log(f"importing {len(images.IMAGES)} test images on {len(nodes)} nodes")
    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(lambda h: import_images(p, h, {i.ref: archives / i.archive_name() for i in images.IMAGES}), nodes))
    log(f"delivering e2e.test, ginkgo and kubectl to {admin.name}")
    paths = {"admin": admin.name, "e2e": deliver(p, admin, e2e / "e2e.test", "0755"),
             "ginkgo": deliver(p, admin, tools / "ginkgo", "0755"), "kubectl": deliver(p, admin, kubectl, "0755")}
    kubeconfig = kubeclient.admin_kubeconfig(p)
    kubeclient.check_server(kubeconfig, p.plan)  # through the VIP, or not at all
    p.write(admin.name, f"{WORK}/admin.conf", yaml.safe_dump(kubeconfig), "0600")
    p.write(admin.name, f"{WORK}/repo-list.yaml", images.repo_list())
    p.write(admin.name, CLASS_FILE, subset.storage_class(p.plan))
    p.write(admin.name, DRIVER_FILE, subset.driver_definition(p.plan, CLASS_FILE))
    return paths


def argv(paths: dict[str, str], one: subset.Pass, procs: int) -> list[str]:
    """ginkgo running e2e.test in ``procs`` processes, bounded twice: ginkgo by the pass's
    bound, and timeout(1) a minute beyond it (ginkgo then reports what ran)."""
    return ["env", f"KUBE_TEST_REPO_LIST={WORK}/repo-list.yaml", "timeout", "-k", "30", str(one.timeout_s + 60),
            paths["ginkgo"], f"--procs={procs}", "-v", "--no-color", f"--timeout={one.timeout_s}s", f"--output-dir={WORK}/report",
            f"--junit-report=junit-{one.name}.xml", *one.ginkgo, paths["e2e"], "--",
            f"--kubeconfig={WORK}/admin.conf", "--provider=skeleton", f"--kubectl-path={paths['kubectl']}", *one.e2e]


def run(p, reports: Path, full: bool = False, procs: int = PROCS, log: Callable[[str], None] = print,
        only: str | None = None, minutes: int | None = None) -> results.Results:
    """``minutes``: each pass ends by then (ginkgo's suite timeout, its JUnit written); the
    tests it did not finish are reported as unfinished, not as the lab's failures."""
    paths = prepare(p, log)
    admin = paths["admin"]
    p.run(admin, ["rm", "-rf", f"{WORK}/report"])
    reports.mkdir(parents=True, exist_ok=True)
    found = results.Results()
    passes: dict[str, dict] = {}
    for one in subset.passes(p.plan, full, DRIVER_FILE, only):
        one = bounded(one, minutes)
        start = time.monotonic()
        of_pass = run_pass(p, admin, paths, one, procs, reports, log)
        passes[one.name] = {"seconds": round(time.monotonic() - start, 1), "counts": of_pass.counts()}
        found.cases += of_pass.cases
    record(p, reports, found, full, procs, passes, only, minutes)
    return found


def bounded(one: subset.Pass, minutes: int | None) -> subset.Pass:
    """The pass ended after ``minutes`` at most (ginkgo's suite timeout), never later than its own bound."""
    return dataclasses.replace(one, timeout_s=min(one.timeout_s, minutes * 60)) if minutes else one


def run_pass(p, admin: str, paths: dict[str, str], one: subset.Pass, procs: int, reports: Path,
             log: Callable[[str], None]) -> results.Results:
    logfile = reports / f"k8s-conformance-{one.name}.log"
    log(f"{one.name} pass on {admin}, {procs} ginkgo processes, at most {one.timeout_s // 60} min (ginkgo's output in {logfile})")
    # the run's PID kept on the admin host: an interrupted run ends it there, and only it
    command = ["sh", "-c", f'echo $$ > {PID_FILE}; exec "$@"', "-", *argv(paths, one, procs)]
    with open(logfile, "w") as out:
        proc = subprocess.Popen(p.exec_argv(admin, command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        progress = Progress(log)
        try:
            for line in proc.stdout:
                out.write(line)
                progress.line(line)
            code = proc.wait()
        except BaseException:
            # timeout(1) passes the signal on to ginkgo, which ends its processes
            p.run(admin, ["sh", "-c", f'kill -TERM "$(cat {PID_FILE})"'], timeout=30)
            proc.wait(timeout=120)
            raise
    junit = p.run(admin, ["cat", f"{WORK}/report/junit-{one.name}.xml"], timeout=120)
    if not junit.ok:
        raise ProviderError(f"ginkgo exited {code} in the {one.name} pass and wrote no JUnit on {admin}: see {logfile}")
    (reports / f"junit-k8s-conformance-{one.name}.xml").write_text(junit.stdout)
    return results.parse(junit.stdout, one.selected)


class Progress:
    """One line per finished test (ginkgo -v prints "• [12.3 seconds]", or "• [FAILED] ...",
    then the test's name), and ginkgo's lines about the run as a whole; the tests' own logs
    stay in the log file."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self.log, self.finished, self.done, self.total = log, "", 0, "?"

    def line(self, line: str) -> None:
        text = line.strip()
        if m := re.match(r"Will run (\d+) of (\d+) specs", text):
            self.total = m.group(1)
            self.log(f"  {text}")
        elif text.startswith("•"):
            self.finished = text
        elif self.finished and text:  # the test's name is the line after its outcome
            self.done += 1
            name = re.sub(r" \[[^\]]*, [^\]]*\]$", "", text)  # ginkgo's list of the labels again
            self.log(f"  {self.done}/{self.total} {self.finished} {name}")
            self.finished = ""
        elif text.startswith(("Ran ", "FAIL!", "SUCCESS!", "Ginkgo ran", "Test Suite")):
            self.log(f"  {text}")


def record(p, reports: Path, found: results.Results, full: bool, procs: int, passes: dict[str, dict], only: str | None = None,
           minutes: int | None = None) -> None:
    """reports/k8s-conformance.json (the report's section) and the witnesses as a promise run
    of their own, so the report lists them under their promises."""
    data = {"provider": p.name, "selection": "full" if full else "focused" if not only else f"only {only}", "procs": procs, "passes": passes,
            "bound_minutes": minutes,
            "seconds": round(sum(one["seconds"] for one in passes.values()), 1),
            "kubernetes": binaries.KUBERNETES.version, "counts": found.counts(), "per_sig": found.per_sig(),
            "failures": found.failures(), "witnesses": found.witnesses(), "unwitnessed": found.unwitnessed(),
            "left_out": {} if only else subset.CANNOT_RUN,
            "underhood": version()}
    (reports / "k8s-conformance.json").write_text(json.dumps(data, indent=1))
    rows = [{"id": pid, "tests": [dict(t, test=f"e2e: {t['test']}") for t in tests if t["outcome"] in ("passed", "failed")]}
            for pid, tests in found.witnesses().items()]
    runs = reports / "promises"
    runs.mkdir(parents=True, exist_ok=True)
    (runs / f"{p.name}-k8s-conformance.json").write_text(json.dumps(
        {"provider": p.name, "suite": "k8s-conformance", "underhood": version(), "promises": [r for r in rows if r["tests"]]}, indent=1))
