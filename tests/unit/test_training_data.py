"""The training data keeps to the NLU contract and stays apart from the
held-out test set."""

from collections import Counter

import pytest
import yaml

from tests.training_data import ROOT, blocks, examples

TOPICS = {"greet", "goodbye", "fastlege", "nav", "intro_program", "school", "barnehage", "housing", "interpreter",
          "caseworker", "emergency", "language", "out_of_scope"}
LANGUAGES = {"nb", "en", "ar", "uk", "ru", "ti", "so", "fa"}
HELDOUT = ROOT / "tests" / "nlu" / "heldout.yml"


def test_one_file_per_language_with_matching_metadata() -> None:
    for file, block in blocks():
        assert file in LANGUAGES
        assert (block.get("metadata") or {}).get("lang") == file, f"{file}: {block['intent']} lacks metadata lang"


def test_every_language_covers_every_topic_with_enough_examples() -> None:
    counts = Counter((ex.lang, ex.topic) for ex in examples())
    for lang in LANGUAGES:
        for topic in TOPICS:
            assert counts[(lang, topic)] >= 20, f"{lang}/{topic}: {counts[(lang, topic)]}"


def test_intents_are_contract_topics() -> None:
    assert {ex.topic for ex in examples()} == TOPICS


def test_no_example_has_two_labels() -> None:
    labels: dict[str, set[str]] = {}
    for ex in examples():
        labels.setdefault(ex.text.casefold(), set()).add(ex.intent)
    assert [t for t, ls in labels.items() if len(ls) > 1] == []


def test_heldout_is_never_trained_on() -> None:
    trained = {ex.text.strip().casefold() for ex in examples()}
    heldout = yaml.safe_load(HELDOUT.read_text(encoding="utf-8"))["examples"]
    assert len(heldout) >= 800
    assert [e["text"] for e in heldout if e["text"].strip().casefold() in trained] == []
    assert {e["lang"] for e in heldout} == LANGUAGES
    assert {e["topic"] for e in heldout} == TOPICS


@pytest.mark.parametrize("kind", ["answers", "long", "emergency"])
def test_new_heldout_files_are_never_trained_on(kind: str) -> None:
    from scripts.heldout import examples as heldout_examples

    trained = {ex.text.strip().casefold() for ex in examples()}
    heldout = heldout_examples(kind)
    assert {e["lang"] for e in heldout} == LANGUAGES
    assert [e["text"] for e in heldout if e["text"].strip().casefold() in trained] == []
    assert all(e["topic"] in TOPICS for e in heldout)


def test_every_question_has_a_response_and_back() -> None:
    responses = yaml.safe_load((ROOT / "data" / "responses.yml").read_text(encoding="utf-8"))["responses"]
    questions = {ex.intent for ex in examples() if "/" in ex.intent}
    assert {name.removeprefix("utter_") for name in responses} == questions
    for name, variants in responses.items():
        assert variants == [{"text": name.removeprefix("utter_")}]


def test_every_answer_is_reachable_from_training_examples() -> None:
    answers = yaml.safe_load((ROOT / "data" / "knowledge" / "answers.yml").read_text(encoding="utf-8"))
    intents = {ex.intent for ex in examples()} | {ex.topic for ex in examples()}
    for answer_id in answers:
        assert answer_id in intents or answer_id.split("/")[0] in intents, answer_id


def near_copies(held: list[str], trained: list[str], similar: float = 0.9) -> list[tuple[str, str]]:
    """Pairs (held-out, training) that differ by a few letters: a reworded
    copy is as much a leak as an exact one. Character trigrams find the
    candidates quickly; difflib's ratio decides."""
    from difflib import SequenceMatcher

    from sklearn.feature_extraction.text import TfidfVectorizer

    def norm(text: str) -> str:
        return " ".join(text.casefold().split())

    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(3, 3)).fit([norm(t) for t in held + trained])
    cosine = vectorizer.transform([norm(t) for t in held]) @ vectorizer.transform([norm(t) for t in trained]).T
    rows, cols = (cosine >= 0.7).nonzero()
    return [(held[i], trained[j]) for i, j in zip(rows, cols, strict=True)
            if SequenceMatcher(None, norm(held[i]), norm(trained[j])).ratio() >= similar]


def test_near_copies_are_found() -> None:
    assert near_copies(["Hvordan får jeg fastlege?"], ["hvordan får jeg  fastlege", "Hva koster barnehage?"]) \
        == [("Hvordan får jeg fastlege?", "hvordan får jeg  fastlege")]
    assert near_copies(["Hvordan får jeg fastlege?"], ["Hvordan bytter jeg skole for barna mine?"]) == []


def test_heldout_has_no_near_copies_in_training() -> None:
    from scripts.heldout import examples as heldout_examples

    held = [e["text"] for kind in ("answers", "long", "emergency") for e in heldout_examples(kind)]
    held += [e["text"] for e in yaml.safe_load(HELDOUT.read_text(encoding="utf-8"))["examples"]]
    copies = near_copies(held, [ex.text for ex in examples()])
    assert len(copies) <= 0, f"{len(copies)} training examples are near-copies of held-out ones: reword or drop them"
