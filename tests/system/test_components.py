"""The custom Rasa components on messages directly (the full pipeline is
exercised by the held-out and conversation tests)."""

from __future__ import annotations

from pathlib import Path

from rasa.shared.nlu.training_data.message import Message

from nlu.components import EmergencySafetyNet, LanguageDetector, NormalizingTokenizer, example_language, override
from nlu.safety import SafetyNet

ROOT = Path(__file__).resolve().parents[2]


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


def model_says(text: str, ranking: list[tuple[str, float]], scores: dict[str, float] | None = None) -> Message:
    return Message(data={"text": text, "intent": {"name": ranking[0][0], "confidence": ranking[0][1]},
                         "intent_ranking": [{"name": n, "confidence": c} for n, c in ranking],
                         "question_scores": scores or {}})


def test_emergency_tiers() -> None:
    """Pattern or sure model: clear; model leaning: possible (the person is
    asked); a short message is an emergency only by a pattern."""
    net = EmergencySafetyNet(SafetyNet.from_directory(ROOT / "data" / "safety"))
    kinds = {"emergency/suicide": 0.7, "emergency/fire": 0.1, "housing/deposit": 0.2}
    sure = model_says("I wrote a letter to each of my children tonight", [("emergency", 0.9), ("fastlege", 0.1)], kinds)
    leaning = model_says("everything is too heavy and I see no way out now", [("fastlege", 0.5), ("emergency", 0.4)], kinds)
    short = model_says("I don't know", [("emergency", 0.6), ("out_of_scope", 0.3)], {"out_of_scope/x": 1.0, **kinds})
    calm = model_says("how much is the deposit for a flat here", [("housing", 0.8), ("emergency", 0.1)], kinds)
    pattern = model_says("my son is not breathing", [("fastlege", 0.9), ("emergency", 0.05)], kinds)
    net.process([sure, leaning, short, calm, pattern])
    assert sure.get("emergency") == {"tier": "clear", "kind": "suicide", "source": "model"}
    assert leaning.get("emergency")["tier"] == "possible" and leaning.get("intent")["name"] == "emergency"
    assert short.get("emergency") is None and short.get("intent")["name"] == "out_of_scope"
    assert [r["name"] for r in short.get("intent_ranking")] == ["out_of_scope"]
    assert calm.get("emergency") is None and calm.get("intent")["name"] == "housing"
    assert pattern.get("emergency") == {"tier": "clear", "kind": "medical", "source": "pattern"}
    assert pattern.get("intent") == {"name": "emergency", "confidence": 1.0}
    assert sure.get("emergency_probability") == 0.9


def test_patterns_of_the_detected_language_decide_the_kind() -> None:
    net = SafetyNet([("xx", "help", "fire"), ("yy", "help", "violence")])
    assert net.match("help!").kind == "fire"
    assert net.match("help!", prefer="yy").kind == "violence"


def test_a_reliable_detection_keeps_other_languages_loanword_patterns_out() -> None:
    net = SafetyNet([("ru", r"\bbrann\b", "fire"), ("nb", "det brenner", "fire")])
    assert net.match("Brann won the match yesterday", prefer="en", reliable=True) is None
    assert net.match("Brann won the match yesterday", prefer="en") is not None  # unsure: every language
    assert net.match("помогите, det brenner", prefer="ru", reliable=True).language == "nb"  # shared words stay
