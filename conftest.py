"""pytest wiring: the suites use the installed plugin `underhood` (provision/pytest_plugin.py:
options, the promise marker, the coverage report, the plan/lab/host/k8s fixtures), the same
plugin a repository of one's own enables with `pytest -p underhood`."""

pytest_plugins = ["underhood"]
