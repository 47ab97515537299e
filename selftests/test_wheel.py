"""The package as a user installs it: the wheel, in a fresh venv, away from this checkout.

Every verb answers --help, `check` works, every module of the package imports (nothing from
chaos/ or tests/, which the wheel does not carry), every file the package reads is in the
wheel, and the pytest plugin serves a repository of one's own through `pytest -p underhood`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from provision.__main__ import verbs

pytestmark = pytest.mark.wheel

ROOT = Path(__file__).resolve().parents[1]
#: A checkout's leftovers that are not sources.
NOT_SOURCES = shutil.ignore_patterns(".git", ".tox", ".venv", "reports", "build", "dist", "*.egg-info", "__pycache__", ".vagrant")


def run(argv: list[str], cwd: Path, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    res = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                         env={**os.environ, "COLUMNS": "160", **(env or {})})
    return res


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the sources (a build writes build/ and egg-info)."""
    src = tmp_path_factory.mktemp("src") / "underhood"
    shutil.copytree(ROOT, src, ignore=NOT_SOURCES)
    out = tmp_path_factory.mktemp("dist")
    res = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q", "-w", str(out), str(src)], cwd=src)
    assert res.returncode == 0, res.stderr
    (built,) = out.glob("underhood-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel and its declared dependencies only (no extras): its bin/."""
    env = tmp_path_factory.mktemp("venv")
    venv.create(env, with_pip=True)
    res = run([str(env / "bin/python"), "-m", "pip", "install", "--disable-pip-version-check", "-q", str(wheel)], cwd=env)
    assert res.returncode == 0, res.stderr
    return env / "bin"


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A working directory with no checkout in sight, so only the installed package imports."""
    return tmp_path


def test_wheel_carries_every_file_of_the_package(wheel: Path):
    with zipfile.ZipFile(wheel) as z:
        carried = {n for n in z.namelist() if n.startswith("provision/")}
    if (ROOT / ".git").exists():
        listed = run(["git", "ls-files", "provision"], cwd=ROOT).stdout.split()
    else:
        listed = [p.relative_to(ROOT).as_posix() for p in (ROOT / "provision").rglob("*") if p.is_file()]
    # dotfiles (.gitignore) and byte code are the checkout's, not the package's
    sources = {n for n in listed if not Path(n).name.startswith(".") and "__pycache__" not in n}
    missing = sorted(sources - carried)
    assert not missing, f"files of the package that the wheel does not carry (pyproject's package-data): {missing}"


def test_every_module_imports_from_the_wheel(installed: Path, elsewhere: Path):
    code = (
        "import importlib, importlib.util, pkgutil, provision\n"
        "bad = []\n"
        "for m in pkgutil.walk_packages(provision.__path__, 'provision.'):\n"
        "    try:\n"
        "        if m.name.startswith('provision.agents.'):\n"
        "            # programs run inside lab hosts (argv, stdout): compiled, not imported\n"
        "            compile(importlib.util.find_spec(m.name).loader.get_source(m.name), m.name, 'exec')\n"
        "        else:\n"
        "            importlib.import_module(m.name)\n"
        "    except Exception as exc:\n"
        "        bad.append(f'{m.name}: {exc!r}')\n"
        "print('\\n'.join(bad))\n"
        "raise SystemExit(1 if bad else 0)\n"
    )
    res = run([str(installed / "python"), "-c", code], cwd=elsewhere)
    assert res.returncode == 0, f"modules that do not import from the wheel:\n{res.stdout}{res.stderr}"


def test_console_script_answers_every_verb(installed: Path, elsewhere: Path):
    res = run([str(installed / "underhood"), "--help"], cwd=elsewhere)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("usage: underhood"), res.stdout
    for verb in verbs():
        res = run([str(installed / "underhood"), verb, "--help"], cwd=elsewhere)
        assert res.returncode == 0, f"underhood {verb} --help: {res.stderr}"
        assert f"usage: underhood {verb}" in res.stdout
    # the module entry keeps working
    res = run([str(installed / "python"), "-m", "provision", "--help"], cwd=elsewhere)
    assert res.returncode == 0 and res.stdout.startswith("usage: python -m provision"), res.stdout + res.stderr


def test_check_runs_from_the_wheel_and_refuses_a_broken_plan(installed: Path, elsewhere: Path):
    res = run([str(installed / "underhood"), "check"], cwd=elsewhere)
    assert res.returncode == 0, res.stderr
    assert "192.168.4.20" in res.stdout and "DOC-06" in res.stdout
    # its failing side: a plan that is not one
    (elsewhere / "bad.yaml").write_text("lab: [not, a, mapping]\n")
    res = run([str(installed / "underhood"), "--plan", str(elsewhere / "bad.yaml"), "check"], cwd=elsewhere)
    assert res.returncode == 2, res.stdout + res.stderr


def test_version_is_the_package_metadata(installed: Path, elsewhere: Path):
    res = run([str(installed / "underhood"), "--version"], cwd=elsewhere)
    want = run([str(installed / "python"), "-c", "from importlib.metadata import version; print(version('underhood'))"], cwd=elsewhere)
    assert res.returncode == 0 and want.returncode == 0, res.stderr + want.stderr
    assert res.stdout.strip() == f"underhood {want.stdout.strip()}"


def test_pytest_plugin_serves_a_repository_of_ones_own(installed: Path, elsewhere: Path):
    (elsewhere / "test_mine.py").write_text(
        "import pytest\n"
        "@pytest.mark.promise('LB-06')\n"
        "def test_vip_in_the_plan(plan):\n"
        "    assert str(plan.vip.address) == '192.168.4.20'\n"
    )
    (elsewhere / "test_typo.py").write_text("import pytest\n@pytest.mark.promise('NET-99')\ndef test_unknown():\n    pass\n")
    # an unknown promise is refused: the plugin is really there
    res = run([str(installed / "pytest"), "-p", "underhood", "-p", "no:cacheprovider", "--provider", "local", "test_typo.py"],
              cwd=elsewhere, env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert res.returncode == pytest.ExitCode.USAGE_ERROR, res.stdout + res.stderr
    assert "unknown promise ID(s) NET-99" in res.stderr
    res = run([str(installed / "pytest"), "-p", "underhood", "-p", "no:cacheprovider", "--provider", "local", "test_mine.py"],
              cwd=elsewhere, env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert res.returncode == 0, res.stdout + res.stderr
    data = json.loads((elsewhere / "reports" / "promises.json").read_text())
    row = next(r for r in data["promises"] if r["id"] == "LB-06")
    assert row["status"] == "passed"
    assert data["underhood"]
