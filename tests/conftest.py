"""The conformance suite runs against a lab: none up ends the run with one line (the
fixtures themselves come from the underhood plugin)."""

from provision.pytest_plugin import require_lab

pytest_sessionstart = require_lab
