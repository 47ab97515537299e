"""Command line: `underhood VERB`, also `python -m provision VERB` (only verbs that work are listed)."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console

from provision import topology
from provision.errors import UnderhoodError
from provision.validation import validate


def providers_names() -> tuple[str, ...]:
    from provision.providers import NAMES

    return NAMES


def _check(args: argparse.Namespace, console: Console) -> int:
    from provision.cli_check import show

    plan = topology.load(args.plan, check=False)
    warnings = validate(plan, source=args.plan or str(topology.DEFAULT_PLAN))
    show(plan, warnings, console)
    return 0


def _provider(args: argparse.Namespace):
    from provision import providers

    plan = topology.load(args.plan)
    return providers.get(args.provider, plan, inventory=getattr(args, "inventory", None), plan_file=args.plan,
                         allow_chaos=getattr(args, "allow_chaos", False))


def _up(args: argparse.Namespace, console: Console) -> int:
    _provider(args).up()
    return 0


def _build(args: argparse.Namespace, console: Console) -> int:
    from provision.providers.local import LocalProvider
    from provision.providers.local.pipeline import Pipeline

    p = _provider(args)
    if not isinstance(p, LocalProvider):
        raise UnderhoodError(f"the {p.name} provider builds nothing on this machine; `build` is for --provider local")
    Pipeline(p).build()
    return 0


def _down(args: argparse.Namespace, console: Console) -> int:
    start = time.monotonic()
    _provider(args).down()
    console.print(f"lab removed in {time.monotonic() - start:.1f} s")
    return 0


def _status(args: argparse.Namespace, console: Console) -> int:
    from rich.table import Table

    from provision.facts import etcd_leader, vip_holder

    p = _provider(args)
    table = Table(title=f"lab {p.plan.lab.name} ({p.name} provider)")
    for col in ("host", "role", "state", "address"):
        table.add_column(col)
    states = p.hosts()
    for h in states:
        table.add_row(h.name, h.role, h.state, h.address or "-")
    console.print(table)
    running = {h.name for h in states if h.state == "running"}
    if running:
        console.print(f"VIP {p.plan.vip.address} held by: {vip_holder(p) or 'nobody'}")
        master = next((m.name for m in p.plan.masters if m.name in running), None)
        if master:
            console.print(f"etcd leader: {etcd_leader(p, master) or 'none'}")
    return 0


def _diff(args: argparse.Namespace, console: Console) -> int:
    from rich.table import Table

    from provision.steps.pending import kubernetes_steps

    p = _provider(args)
    if hasattr(p, "check_reachable"):
        p.check_reachable()
    findings = kubernetes_steps(p)
    table = Table(title=f"what `up` would still do to lab {p.plan.lab.name} ({p.name} provider; nothing was changed)")
    for col in ("step", "host", "state"):
        table.add_column(col)
    for f in findings:
        table.add_row(f.step, f.host, "done" if f.done else "MISSING: " + "; ".join(f.missing))
    console.print(table)
    missing = [f for f in findings if not f.done]
    console.print(f"{len(missing)} of {len(findings)} step(s) missing" if missing else "nothing missing: the lab has every Kubernetes step of the plan")
    # As diff(1): 1 when there is a difference.
    return 1 if missing else 0


def _vagrant_data(args: argparse.Namespace, console: Console) -> int:
    import json

    from provision.vagrant_data import data

    print(json.dumps(data(topology.load(args.plan)), indent=2))
    return 0


#: The report's first screen as README shows it: summary, what is not proven and why, recovery.
PICTURE_SIZE = (1280, 2000)


def _report(args: argparse.Namespace, console: Console) -> int:
    from provision.report import build

    out = build(topology.load(args.plan), Path(args.reports))
    console.print(f"report written to {out}")
    if args.picture:
        from provision.report import browser

        shot = browser.screenshot(out.resolve().as_uri(), Path(args.picture), *PICTURE_SIZE)
        console.print(f"its first screen pictured in {shot}")
    return 0


def _demo(args: argparse.Namespace, console: Console) -> int:
    from provision.demo import Dashboard

    p = _provider(args)
    if not p.is_up():
        raise UnderhoodError("no lab is up: run `python -m provision up` first")
    if args.script:
        from provision import talk

        script = talk.load(args.script)  # a wrong script is refused before anything is killed
        dashboard = Dashboard(p, p.state)
        dashboard.run(talk.Runner(dashboard, script, Path(args.reports)))
    else:
        Dashboard(p, p.state).run()
    return 0


def _conformance(args: argparse.Namespace, console: Console) -> int:
    from provision.conformance import run

    p = _provider(args)
    if not p.is_up():
        raise UnderhoodError("no lab is up: run `python -m provision up` first")
    # the tests' names are full of brackets ("[sig-network]") that rich would take for markup
    if args.minutes is not None and args.minutes < 1:
        raise UnderhoodError(f"--minutes {args.minutes}: give a whole number of minutes, 1 or more")
    found = run.run(p, Path(args.reports), full=args.full, procs=args.procs or run.PROCS, only=args.focus, minutes=args.minutes,
                    log=lambda text: console.print(text, markup=False, highlight=False, soft_wrap=True))
    counts = found.counts()
    unfinished = f", {counts['unfinished']} unfinished (the {args.minutes}-minute bound)" if counts["unfinished"] else ""
    console.print(f"Kubernetes e2e ({'full' if args.full else args.focus or 'focused'}): {counts['passed']} passed, "
                  f"{counts['failed']} failed, {counts['skipped']} skipped{unfinished}; {Path(args.reports) / 'k8s-conformance.json'}",
                  markup=False, soft_wrap=True)
    for failure in found.failures():
        console.print(f"  failed: {failure['test']}: {failure['cause']}", markup=False, soft_wrap=True)
    return 1 if counts["failed"] or not found.cases else 0


def _ssh_config(args: argparse.Namespace, console: Console) -> int:
    print(_provider(args).ssh_config())
    return 0


def _poweroff(args: argparse.Namespace, console: Console) -> int:
    _provider(args).poweroff(args.host)
    return 0


def _start(args: argparse.Namespace, console: Console) -> int:
    _provider(args).start(args.host)
    return 0


def _shell(args: argparse.Namespace, console: Console) -> int:
    return subprocess.call(_provider(args).shell_argv(args.host, args.command or ["bash", "-l"]))


def _prog() -> str:
    """The name the user typed: the console script, or `python -m provision`."""
    return "python -m provision" if Path(sys.argv[0]).name == "__main__.py" else Path(sys.argv[0]).name


def parser() -> argparse.ArgumentParser:
    """The command line, every verb with its options."""
    from provision.version import version

    cli = argparse.ArgumentParser(prog=_prog(), description="Build and inspect the underhood lab.")
    cli.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    cli.add_argument("--plan", default=None, help="plan file (default: provision/lab.yaml)")
    sub = cli.add_subparsers(dest="verb", required=True, metavar="VERB")
    p = sub.add_parser("check", help="validate the plan and print it with the documents' errata")
    p.add_argument("--plan", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    p.set_defaults(func=_check)
    def provider_options(v: argparse.ArgumentParser) -> None:
        v.add_argument("--provider", default=None, choices=providers_names(), help="local, vagrant, existing or auto (LAB_PROVIDER)")
        v.add_argument("--inventory", default=None, help="the existing provider's inventory (LAB_INVENTORY)")
        v.add_argument("--allow-chaos", action="store_true", help="let faults touch an existing lab")

    for verb, func, text in (
        ("build", _build, "build what the local lab's hosts are made of: base image, Kubernetes from Go modules"),
        ("up", _up, "create the lab's hosts and networks and configure them (idempotent)"),
        ("down", _down, "remove every host, network and leftover of the lab"),
        ("status", _status, "each host's state and address, the VIP holder, the etcd leader"),
        ("diff", _diff, "dry run: the plan's Kubernetes steps the lab is missing, read only (exit 1 if any)"),
    ):
        v = sub.add_parser(verb, help=text)
        provider_options(v)
        v.set_defaults(func=func)
    for verb, func, text in (("poweroff", _poweroff, "hard power-off of HOST (a node fault)"),
                             ("start", _start, "start HOST again after a poweroff")):
        v = sub.add_parser(verb, help=text)
        provider_options(v)
        v.add_argument("host")
        v.set_defaults(func=func)
    v = sub.add_parser("vagrant-data", help="every VM of the plan as JSON: what the Vagrantfile reads")
    v.set_defaults(func=_vagrant_data)
    v = sub.add_parser("report", help="write reports/index.html from the recorded runs")
    v.add_argument("--reports", default="reports", help="the reports directory (default: reports/ here, where the suites write)")
    v.add_argument("--picture", metavar="PNG", help="also picture the report's first screen in a headless browser (README's docs/report.png)")
    v.set_defaults(func=_report)
    v = sub.add_parser("demo", help="talk mode: a live dashboard; keys kill the VIP holder, the etcd leader, a master, the announcing worker, a Gluster node")
    provider_options(v)
    v.add_argument("--script", metavar="FILE", help="run a talk script (YAML; `default` for the built-in one): the same faults "
                   "in the same order, pausing for the speaker; its figures go to REPORTS/talk.json")
    v.add_argument("--reports", default="reports", help="where the script's figures go (default: reports/)")
    v.set_defaults(func=_demo)
    v = sub.add_parser("conformance", help="Kubernetes' own [Conformance] e2e tests against the lab, from the admin host "
                       "through the VIP (built from the cluster's pin, no image pulled): a focused subset, or --full")
    provider_options(v)
    v.add_argument("--full", action="store_true", help="every [Conformance] test (hours; nightly, not CI)")
    v.add_argument("--procs", type=int, default=None, help="parallel ginkgo processes (default 2)")
    v.add_argument("--focus", metavar="REGEX", help="only the [Conformance] tests whose names match (no storage pass)")
    v.add_argument("--minutes", type=int, default=None, help="end each pass after this many minutes, with its results so far: "
                   "the tests it did not finish are reported as unfinished (a sample of --full in an evening)")
    v.add_argument("--reports", default="reports", help="where the JUnit and the summary go (default: reports/)")
    v.set_defaults(func=_conformance)
    v = sub.add_parser("ssh-config", help="ssh access to every host, in `vagrant ssh-config` format")
    v.add_argument("--provider", default=None, choices=providers_names())
    v.set_defaults(func=_ssh_config)
    v = sub.add_parser("shell", help="a shell (or a command) on a lab host")
    provider_options(v)
    v.add_argument("host")
    v.add_argument("command", nargs=argparse.REMAINDER)
    v.set_defaults(func=_shell)
    return cli


def verbs() -> list[str]:
    """Every verb of the command line, in the order --help lists them."""
    action = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    return list(action.choices)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    console = Console()
    try:
        return args.func(args, console)
    except UnderhoodError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_status


if __name__ == "__main__":
    sys.exit(main())
