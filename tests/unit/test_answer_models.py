"""The answer within a topic comes from that topic's own model (issue 17:
training time): trained on the topic's examples only, its probabilities sum
to one within the topic, and a topic with one answer always gives it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, INTENT, INTENT_RESPONSE_KEY, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from nlu.components import TopicClassifier

WIDTH = 12


def message(text: str, column: int, topic: str, answer: str | None = None) -> Message:
    """A message whose only feature is one word (column)."""
    data = {TEXT: text, INTENT: topic}
    if answer:
        data[INTENT_RESPONSE_KEY] = answer
    m = Message(data=data)
    row = scipy.sparse.coo_matrix(([1.0], ([0], [column])), shape=(1, WIDTH))
    m.add_features(Features(row, FEATURE_TYPE_SENTENCE, TEXT, "test"))
    return m


def trained(tmp_path: Path, n_jobs: int = 1) -> TopicClassifier:
    examples = []
    for i in range(6):
        examples += [message(f"gp {i}", 0, "fastlege", "fastlege/get_gp"),
                     message(f"cost {i}", 1, "fastlege", "fastlege/cost"),
                     message(f"rent {i}", 2, "housing", "housing/rent"),
                     message(f"hei {i}", 3, "greet")]
    classifier = TopicClassifier.create({"max_iter": 200, "dense_weight": 0.0, "n_jobs": n_jobs},
                                        LocalModelStorage(tmp_path),
                                        Resource("topic"), None)
    classifier.train(TrainingData(training_examples=examples))
    return classifier


def test_each_topic_has_its_own_answer_model(tmp_path: Path) -> None:
    classifier = trained(tmp_path)
    params = classifier._params
    assert list(params["question_classes"]) == ["fastlege/cost", "fastlege/get_gp", "housing/rent"]
    assert params["question_coef"].shape == (3, WIDTH)
    # housing has one answer: no model is fitted, its weights are zero
    assert not params["question_coef"][2].any()
    # the fastlege model never saw the housing or greeting words
    assert not params["question_coef"][:2, 2:].any()


def test_models_fitted_side_by_side_equal_models_fitted_in_turn(tmp_path: Path) -> None:
    """Training fits the topic and answer models in parallel processes (one per
    core, for training time): the model must not depend on it."""
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    alone, parallel = trained(tmp_path / "one", n_jobs=1)._params, trained(tmp_path / "two", n_jobs=2)._params
    assert alone.keys() == parallel.keys()
    for key in alone:
        assert np.array_equal(alone[key], parallel[key]), key


def test_answer_probabilities_sum_to_one_within_each_topic(tmp_path: Path) -> None:
    classifier = trained(tmp_path)
    x = scipy.sparse.csr_matrix(np.eye(WIDTH)[[0, 1, 2]])
    probs = classifier._probabilities("question", x)
    assert np.allclose(probs[:, :2].sum(axis=1), 1.0)
    assert np.allclose(probs[:, 2], 1.0)
    assert probs[0, 1] > 0.9 and probs[1, 0] > 0.9  # "gp" -> get_gp, "cost" -> cost
    topics = classifier._probabilities("topic", x)
    assert np.allclose(topics.sum(axis=1), 1.0)


def test_the_answer_choice_reads_the_topic_models(tmp_path: Path) -> None:
    classifier = trained(tmp_path)
    [m] = classifier.process([message("cost", 1, "")])
    assert m.get(INTENT)["name"] == "fastlege"
    assert m.get("answer_choice")["id"] == "fastlege/cost"
    assert m.get("answer_choice")["sure"]


def test_mostly_zero_weights_are_kept_sparse_with_the_same_probabilities(tmp_path: Path) -> None:
    classifier = trained(tmp_path)
    dense = {k: v.copy() for k, v in classifier._params.items()}
    x = scipy.sparse.csr_matrix(np.eye(WIDTH)[[0, 1, 2, 5]])
    probs = classifier._probabilities("question", x)
    assert scipy.sparse.issparse(classifier._weight_columns("question"))  # 3 answers x 12 words, mostly zero
    assert "question_coef" not in classifier._params  # not held twice
    logits = x @ dense["question_coef"].T.astype(np.float64) + dense["question_intercept"]
    fastlege = np.exp(logits[:, :2]) / np.exp(logits[:, :2]).sum(axis=1, keepdims=True)
    assert np.allclose(probs[:, :2], fastlege, atol=1e-5)


def test_tfidf_rows_match_what_training_computed() -> None:
    """Serving computes TF-IDF on the stored values; it must equal sklearn's
    transform at training time, or the weights would read other numbers."""
    from sklearn.feature_extraction.text import TfidfTransformer

    from nlu.components import tfidf_rows

    rng = np.random.default_rng(1)
    counts = scipy.sparse.random(40, 300, density=0.05, random_state=2, data_rvs=lambda n: rng.integers(1, 5, n)).tocsr()
    counts[7] = 0  # a message with no known feature
    counts.eliminate_zeros()
    transformer = TfidfTransformer(sublinear_tf=True).fit(counts)
    expected = transformer.transform(counts).toarray()
    np.testing.assert_allclose(tfidf_rows(counts, transformer.idf_).toarray(), expected, atol=1e-12)


def test_sparse_product_equals_the_matrix_product() -> None:
    from nlu.components import sparse_product

    x = scipy.sparse.random(5, 200, density=0.1, random_state=3, format="csr")
    x[2] = 0
    x.eliminate_zeros()
    weights = scipy.sparse.random(200, 9, density=0.3, random_state=4, format="csr", dtype=np.float32)
    np.testing.assert_allclose(sparse_product(x, weights), (x @ weights).toarray(), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(sparse_product(x, weights.toarray()), x @ weights.toarray(), rtol=1e-6)
