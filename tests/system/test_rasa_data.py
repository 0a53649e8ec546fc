"""Rasa's own checks: `rasa data validate` and the test stories."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.training_data import ROOT

RASA = str(Path(sys.executable).parent / "rasa")
# The six knowledge topics are retrieval intents answered by
# action_answer_topic (from locales/), not by Rasa's utter_<topic> action, so
# Rasa warns that utter_<topic> is unused and that the topics appear both in
# the domain and in the retrieval responses. Nothing else may warn.
KNOWN = re.compile(
    r"The utterance 'utter_(fastlege|nav|intro_program|school|barnehage|housing|emergency)' is not used in any story or rule"
    r"|The following duplicated intents have been found across multiple domain files: "
    r"barnehage, (emergency, )?fastlege, housing, intro_program, nav, school$"
)


def env() -> dict[str, str]:
    return {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}


def test_rasa_data_validate_has_only_the_documented_warnings() -> None:
    result = subprocess.run([RASA, "data", "validate", "--domain", "domain.yml", "--data", "data", "--config",
                             "config.yml"], cwd=ROOT, env=env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    warnings = [m.strip() for m in re.findall(r"UserWarning: (.*)", result.stdout + result.stderr)]
    assert warnings, "expected Rasa's documented warnings; did the output format change?"
    assert [w for w in warnings if not KNOWN.search(w)] == []


@pytest.mark.stack  # needs the trained model
def test_stories_in_three_or_more_languages(tmp_path: Path) -> None:
    if not any((ROOT / "models").glob("*.tar.gz")):
        pytest.fail("no trained model in models/")
    result = subprocess.run([RASA, "test", "core", "--stories", "tests/stories", "-m", "models",
                             "--fail-on-prediction-errors", "--out", str(tmp_path)],
                            cwd=ROOT, env=env(), capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
