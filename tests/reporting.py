"""Figures a test prints for the report (how many inputs were tried)."""

from __future__ import annotations

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
