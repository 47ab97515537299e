"""Errors a user sees: each names the field, the bad value and the fix."""

from __future__ import annotations

from pydantic import ValidationError

#: Exit status for a refused plan or bad input (argparse uses 2 for bad usage too).
EXIT_BAD_INPUT = 2


class UnderhoodError(Exception):
    """An error meant for the user: printed as one line, no traceback."""

    exit_status = 1


class PlanError(UnderhoodError):
    exit_status = EXIT_BAD_INPUT

    def __init__(self, source: str, path: str, value: object, fix: str) -> None:
        self.source = source
        self.path = path
        self.value = value
        self.fix = fix
        where = f"{source}: {path}" if path else source
        super().__init__(f"{where}: {value!r} is refused: {fix}")

    @classmethod
    def from_pydantic(cls, source: str, exc: ValidationError) -> PlanError:
        err = exc.errors()[0]
        path = ".".join(str(p) for p in err["loc"])
        kind = err["type"]
        if kind == "extra_forbidden":
            fix = "unknown key; remove it or check its spelling against provision/lab.yaml"
        elif kind == "missing":
            fix = "this key is required; copy it from provision/lab.yaml"
            return cls(source, path, None, fix)
        else:
            fix = err["msg"]
        return cls(source, path, err.get("input"), fix)


class ProviderError(UnderhoodError):
    """A provider cannot do what was asked (not installed, not root, not Linux...)."""

    exit_status = EXIT_BAD_INPUT


class StepError(UnderhoodError):
    """A step of `up` stopped: which step, what failed, and how to go on; the exit status is
    the cause's."""

    def __init__(self, step: str, seconds: float, cause: UnderhoodError) -> None:
        self.exit_status = cause.exit_status
        super().__init__(f"step {step!r} stopped after {seconds:.0f} s: {cause}\n"
                         "fix the cause and run `up` again: the steps before this one find their work done, "
                         "and it goes on from here")
