"""Understanding, scored from outside on the held-out files (tests/heldout/,
never trained on) with the shared scorers, through the running stack:

- answers: which knowledge-base answer a new person gets through the REST
  channel (score_answers.py), and honesty when the base has no answer;
- long messages: the topic of 2-4 sentence messages (score_topics.py);
- emergencies: every emergency caught (recall 1.0, no slack: one miss fails
  and is listed), false alarms on near-misses and long messages counted.

Figures are printed per language (`make bench` prints the same). The floors
are the issue's targets where they are met, otherwise the level measured
when the floor was set, so a regression fails (README, Benchmarks)."""

from __future__ import annotations

import pytest

from scripts import heldout
from tests.reporting import show_in_test_output

pytestmark = pytest.mark.stack

FLOORS = {  # figure: (overall at least, any language at least); measured 2026-12-08 (stop 15) in the comments
    "answer_accuracy": (0.85, 0.75),        # 0.893, worst ar 0.815
    "none_honesty": (0.80, 0.0),            # 0.934, worst uk 0.846
    "long_topic_accuracy": (0.90, 0.85),    # 0.944, worst uk 0.850
    "out_of_scope_recall": (0.80, 0.0),     # 0.938
    "emergency_precision": (0.85, 0.0),     # 0.935 on near-misses written to be alarming: the 0.95 is not met yet
    "emergency_recall": (1.0, 1.0),         # 1.000 in every language
}
WRONG_ANSWERS_AT_MOST = 0.05


@pytest.fixture(scope="module")
def scored(stack, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    return heldout.figures(stack.rasa_url, stack.api_token, tmp_path_factory.mktemp("heldout"))


def test_print_every_figure(scored: tuple[dict, dict], request: pytest.FixtureRequest) -> None:
    for name, value in scored[0].items():
        show_in_test_output(request, f"{name}: {value}")


def test_every_emergency_is_caught(scored: tuple[dict, dict]) -> None:
    missed = [f"[{r['lang']}/{r['kind']}/{r['script']}] {r['text']} -> {r['predicted']}"
              for r in scored[1]["emergency"] if r["topic"] == "emergency" and r["predicted"] != "emergency"]
    assert missed == [], "missed emergencies:\n" + "\n".join(missed)


@pytest.mark.parametrize("name", list(FLOORS))
def test_figure_reaches_its_floor(scored: tuple[dict, dict], name: str) -> None:
    overall, any_language = FLOORS[name]
    value = scored[0][name]
    assert value["all"] >= overall, value
    assert min(v for k, v in value.items() if k != "all") >= any_language, value


def test_wrong_answers_are_rare(scored: tuple[dict, dict]) -> None:
    value = scored[0]["wrong_answer_rate"]
    wrong = [f"[{r['lang']}] {r['text']} -> {r['got']} (wanted {r['answer']})" for r in scored[1]["answers"]
             if r["answer"] != "none" and r["got"] and r["answer"] not in r["got"]]
    assert value["all"] <= WRONG_ANSWERS_AT_MOST, "\n".join(wrong)
