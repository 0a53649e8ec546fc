"""The emergency tiers are read against the training prior: adding answers
about other things (fewer emergencies in the training data) must not quietly
raise the bar for an alarm. Six held-out emergencies fell below the
`possible` threshold when 50 answers were added; this is the general fix."""

from __future__ import annotations

import pytest
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from nlu.components import TOPIC_PRIORS, EmergencySafetyNet, prior_adjusted
from nlu.safety import SafetyNet

LONG = "my neighbour is shouting and my friend took something, i do not know what to do now"


def test_a_probability_is_read_as_if_the_class_had_its_reference_share() -> None:
    assert prior_adjusted(0.35, 0.13, 0.13) == pytest.approx(0.35)
    assert prior_adjusted(0.262, 0.09, 0.13) == pytest.approx(0.34, abs=0.01)  # the same evidence, fewer examples
    assert prior_adjusted(0.35, 0.20, 0.13) < 0.35  # more emergencies in training: a higher bar again
    assert prior_adjusted(0.3, None, 0.13) == 0.3  # a model trained before the priors were kept
    values = [prior_adjusted(p / 10, 0.09, 0.13) for p in range(1, 10)]
    assert values == sorted(values)


def message(p_emergency: float, priors: dict[str, float] | None) -> Message:
    m = Message({TEXT: LONG})
    ranking = [{"name": "housing", "confidence": 1 - p_emergency}, {"name": "emergency", "confidence": p_emergency}]
    m.set(INTENT, ranking[0])
    m.set(INTENT_RANKING_KEY, ranking)
    if priors is not None:
        m.set(TOPIC_PRIORS, priors)
    return m


def test_the_possible_tier_follows_the_training_prior() -> None:
    net = EmergencySafetyNet(SafetyNet([]))
    assert net.decide(message(0.30, {"emergency": 0.09, "housing": 0.2}), None)["tier"] == "possible"
    assert net.decide(message(0.30, None), None) is None  # without the prior: below 0.35
    assert net.decide(message(0.30, {"emergency": 0.13}), None) is None  # the reference share: unchanged
    assert net.decide(message(0.15, {"emergency": 0.09}), None) is None  # weak evidence stays calm
