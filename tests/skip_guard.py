"""CI fails on a skip it was not told to expect.

A skipped test leaves a run green while what it checks goes unchecked: a missing package, tool
or data set quietly turns a test off. Under ``CI`` (set by CI services and by ``.ci/run``), a
skip whose reason matches none of ``ALLOWED_SKIPS`` turns the exit status to failed and the
summary names each one. Locally skips only show in the ``-ra`` summary, as before.
"""

from __future__ import annotations

import os
import re

import pytest

# (pattern of the skip reason, why CI cannot run that test): only what no install can give.
ALLOWED_SKIPS: tuple[tuple[str, str], ...] = (
    (r"\bno (CUDA|NVIDIA) GPU\b", "hardware: GPU tests run on GPU hosts only"),
    (r"this host has an NVIDIA GPU", "the no-GPU path cannot be checked where a GPU is present"),
    (r"vLLM is installed in this environment", "the missing-vLLM error needs vLLM absent"),
)
_ALLOWED = [re.compile(pattern) for pattern, _ in ALLOWED_SKIPS]


def skip_reason(report: pytest.CollectReport | pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def is_allowed(reason: str) -> bool:
    return any(p.search(reason) for p in _ALLOWED)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


class SkipGuard:
    """Notes every skip (of a test or of a whole module at collection) outside the allow-list."""

    def __init__(self) -> None:
        self.unlisted: list[tuple[str, str]] = []

    def _note(self, report: pytest.CollectReport | pytest.TestReport) -> None:
        if report.skipped and not hasattr(report, "wasxfail"):  # an xfail is stated, not hidden
            reason = skip_reason(report)
            if not is_allowed(reason):
                self.unlisted.append((report.nodeid, reason))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._note(report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        self._note(report)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if in_ci() and self.unlisted and exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.unlisted or not in_ci():
            return
        terminalreporter.section("skips CI does not allow", sep="=", red=True, bold=True)
        for nodeid, reason in self.unlisted:
            terminalreporter.line(f"{nodeid}: {reason}")
        terminalreporter.line(
            "install what the test needs (./install.sh --dev), or add its reason to "
            "ALLOWED_SKIPS in tests/skip_guard.py with why no install can provide it"
        )


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(SkipGuard(), "skip-guard")
