"""The custom Rasa components on messages directly (the full pipeline is
exercised by the held-out and conversation tests)."""

from __future__ import annotations

from pathlib import Path

from rasa.shared.nlu.training_data.message import Message

from nlu.components import EmergencySafetyNet, LanguageDetector, NormalizingTokenizer, example_language, override
from nlu.safety import SafetyNet

ROOT = Path(__file__).resolve().parent.parent


def test_safety_net_overrides_the_model_and_keeps_the_ranking() -> None:
    net = EmergencySafetyNet(SafetyNet.from_directory(ROOT / "data" / "safety"))
    fire = Message(data={"text": "det brenner i kjøkkenet", "intent": {"name": "housing", "confidence": 0.9},
                         "intent_ranking": [{"name": "housing", "confidence": 0.9},
                                            {"name": "emergency", "confidence": 0.05}]})
    calm = Message(data={"text": "hvor er brannslukkeren", "intent": {"name": "housing", "confidence": 0.9}})
    net.process([fire, calm])
    assert fire.get("intent") == {"name": "emergency", "confidence": 1.0} and fire.get("emergency_net") is True
    assert [r["name"] for r in fire.get("intent_ranking")] == ["emergency", "housing"]
    assert calm.get("intent")["name"] == "housing" and calm.get("emergency_net") is False


def test_override_on_a_message_without_ranking() -> None:
    message = Message(data={"text": "x"})
    override(message)
    assert message.get("intent_ranking") == [{"name": "emergency", "confidence": 1.0}]


def test_language_detector_adds_the_contract_field() -> None:
    detector = LanguageDetector({}, None, None)  # type: ignore[arg-type]
    messages = [Message(data={"text": "ሓኪም ደልየ"}), Message(data={"text": "NAV"}), Message(data={"text": ""})]
    detector.process(messages)
    assert messages[0].get("language") == "ti" and messages[0].get("language_reliable") is True
    assert messages[1].get("language_reliable") is False
    assert messages[2].get("language") is None
    assert "language" in messages[0].as_dict(only_output_properties=True)


def test_tokenizer_normalises_but_keeps_the_original_text() -> None:
    tokenizer = NormalizingTokenizer(NormalizingTokenizer.get_default_config())
    message = Message(data={"text": "أُريدُ  FASTLEGE می‌خوام"})
    tokens = [t.text for t in tokenizer.tokenize(message, "text")]
    assert tokens == ["اريد", "fastlege", "مي", "خوام"]
    assert message.get("text") == "أُريدُ  FASTLEGE می‌خوام"


def test_example_language_from_metadata() -> None:
    assert example_language(Message(data={"metadata": {"intent": {"lang": "so"}}})) == "so"
    assert example_language(Message(data={})) is None
