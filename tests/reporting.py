"""What the hostile-input and fuzz tests watch and report: errors logged
while they run, and how many inputs they tried."""

from __future__ import annotations

import logging

import pytest


def show_in_test_output(request: pytest.FixtureRequest, line: str) -> None:
    """One line in pytest's own output, also without -s (output capture paused for it)."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or request.config.getoption("capture") == "no":
        return  # with -s the print above shows it
    if capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write("\n")  # after the progress dots
            reporter.write_line(line)
    else:
        reporter.write_line(line)


class ErrorLog(logging.Handler):
    """Every ERROR (and our handlers' 'failed' warnings) logged while a test runs."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or "handler failed" in record.getMessage():
            self.records.append(record)

    def take(self) -> list[str]:
        """The records so far, as text; the log starts empty again."""
        taken = [f"{r.name}: {r.getMessage()[:300]}" for r in self.records]
        self.records.clear()
        return taken
