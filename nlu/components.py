"""Rasa 3.6 pipeline components (referenced from `config.yml`).

- `TopicClassifier`: TF-IDF weighting of Rasa's count features and two
  logistic regressions: one for the topic (the intent), one for the question
  within a knowledge topic (the retrieval intent, reported in Rasa's
  `response_selector` format). Trains in seconds on two cores and gives
  better-calibrated confidences than DIET on this data (README, Benchmarks).
- `NormalizingTokenizer`: the whitespace tokenizer on normalised text, so
  that "می‌خوام"/"می خوام" or "أريد"/"اريد" are the same tokens.
- `LanguageDetector`: adds `language` (ISO code), `language_confidence` and
  `language_reliable` to every parse result, as the NLU contract requires.
- `EmergencySafetyNet`: turns any message that matches an emergency pattern
  into the `emergency` intent with confidence 1.0, whatever DIET predicted.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse
from joblib import Parallel, delayed
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.constants import (
    RESPONSE_SELECTOR_DEFAULT_INTENT,
    RESPONSE_SELECTOR_PREDICTION_KEY,
    RESPONSE_SELECTOR_PROPERTY_NAME,
    RESPONSE_SELECTOR_RANKING_KEY,
    RESPONSE_SELECTOR_RETRIEVAL_INTENTS,
)
from rasa.nlu.featurizers.featurizer import Featurizer
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, INTENT, INTENT_RANKING_KEY, INTENT_RESPONSE_KEY, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from nlu.encoder import CachedEncoder, Encoder, default_encoder
from nlu.langid import LanguageIdentifier, LearnedLanguageModel, content_words, script_counts
from nlu.safety import SafetyMatch, SafetyNet
from nlu.text import normalize

logger = logging.getLogger(__name__)

EMERGENCY_INTENT = "emergency"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class NormalizingTokenizer(WhitespaceTokenizer):
    """Whitespace tokenizer that first normalises the text (see `nlu.text`)."""

    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        if attribute != TEXT:
            return super().tokenize(message, attribute)
        original = message.get(attribute)
        message.data[attribute] = normalize(original) or original
        try:
            return super().tokenize(message, attribute)
        finally:
            message.data[attribute] = original


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class SentenceEncoderFeaturizer(GraphComponent):
    """Adds a multilingual sentence vector (nlu.encoder) as a dense sentence
    feature of the text. While training, vectors are cached by text in
    `cache` (default var/embedding-cache.sqlite) so a retrain only encodes
    new examples."""

    ORIGIN = "sentence_encoder"

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"num_threads": 1, "cache": str(Path(__file__).resolve().parent.parent / "var" / "embedding-cache.sqlite")}

    def __init__(self, config: dict[str, Any]) -> None:
        self._config = {**self.get_default_config(), **config}
        self._encoder: Encoder | None = None

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> SentenceEncoderFeaturizer:
        return cls(config)

    def encoder(self) -> Encoder:
        """ENCODER_THREADS (a run-time setting, not part of the model) wins
        over the configured thread count."""
        if self._encoder is None:
            self._encoder = default_encoder(int(os.environ.get("ENCODER_THREADS") or self._config["num_threads"]))
        return self._encoder

    def _add(self, messages: list[Message], encoder: Encoder) -> None:
        todo = [m for m in messages if m.get(TEXT)]
        if not todo:
            return
        vectors = encoder.encode([m.get(TEXT) for m in todo])
        for message, vector in zip(todo, vectors, strict=True):
            message.add_features(Features(vector.reshape(1, -1), FEATURE_TYPE_SENTENCE, TEXT, self.ORIGIN))

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        cache = os.environ.get("EMBEDDING_CACHE") or self._config["cache"]
        self._add(list(training_data.training_examples), CachedEncoder(self.encoder(), Path(cache)))
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        self._add(messages, self.encoder())
        return messages


#: Each topic's share of the training examples, set on a message for the safety net (not in the output).
TOPIC_PRIORS = "topic_priors"


def fit_logistic(x: scipy.sparse.csr_matrix, labels: list[str], c: float, max_iter: int,
                 random_state: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Multinomial logistic regression: (coefficients per class, intercepts, classes).
    A module function so that joblib can run several in other processes."""
    from sklearn.linear_model import LogisticRegression

    classes = sorted(set(labels))
    if len(classes) == 1:  # one answer in its topic: always that one
        return np.zeros((1, x.shape[1]), dtype=np.float32), np.zeros(1), np.array(classes)
    model = LogisticRegression(C=c, max_iter=max_iter, random_state=random_state)
    model.fit(x, labels)
    coef, intercept = model.coef_, model.intercept_
    if len(model.classes_) == 2:
        coef, intercept = np.vstack([-coef, coef]), np.concatenate([-intercept, intercept])
    return coef.astype(np.float32), intercept, np.array([str(k) for k in model.classes_])


def fit_on_used_columns(x: scipy.sparse.csr_matrix, labels: list[str], c: float, max_iter: int,
                        random_state: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`fit_logistic` on the columns these examples use: the others keep weight 0
    anyway (no gradient under L2), and the optimiser's vectors shrink to a
    fraction of the features."""
    used = np.unique(x.indices)
    coef, intercept, classes = fit_logistic(x[:, used], labels, c, max_iter, random_state)
    full = np.zeros((coef.shape[0], x.shape[1]), dtype=np.float32)
    full[:, used] = coef
    return full, intercept, classes


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class TopicClassifier(GraphComponent, IntentClassifier):
    """Topic (intent) and question (retrieval intent) classifier."""

    MODEL_FILE = "topic_classifier.npz"

    @classmethod
    def required_components(cls) -> list[type]:
        return [Featurizer]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"C": 10.0, "max_iter": 3000, "ranking_length": 10, "random_state": 42,
                # weight of the sentence vector beside the TF-IDF n-grams (both L2-normalised)
                "dense_weight": 1.5,
                # an answer is given as THE answer only when P(topic) x P(answer | topic) reaches this
                # and beats the next answer by `answer_margin` (chosen on held-out data, README)
                "answer_threshold": 0.5, "answer_margin": 0.0, "answer_candidates": 3,
                # processes fitting the topic and answer models side by side (joblib; -1: one per core)
                "n_jobs": -1}

    def __init__(self, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
                 params: dict[str, np.ndarray] | None = None) -> None:
        self._config = {**self.get_default_config(), **config}
        self._storage, self._resource = model_storage, resource
        self._params = params or {}
        self._weights: dict[str, np.ndarray | scipy.sparse.csr_matrix] = {}
        self._softmax_blocks: dict[str, list[slice]] = {}

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> TopicClassifier:
        return cls(config, model_storage, resource)

    @classmethod
    def load(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> TopicClassifier:
        try:
            with model_storage.read_from(resource) as directory:
                with np.load(Path(directory) / cls.MODEL_FILE, allow_pickle=False) as data:
                    params = {key: data[key] for key in data.files}
        except (ValueError, FileNotFoundError):
            logger.warning("TopicClassifier has no trained parameters; it will predict nothing.")
            params = {}
        return cls(config, model_storage, resource, params)

    @staticmethod
    def _features(messages: list[Message]) -> scipy.sparse.csr_matrix:
        rows = []
        for message in messages:
            _, sentence = message.get_sparse_features(TEXT)
            rows.append(scipy.sparse.csr_matrix(sentence.features) if sentence is not None else None)
        width = max((r.shape[1] for r in rows if r is not None), default=0)
        return scipy.sparse.vstack([r if r is not None else scipy.sparse.csr_matrix((1, width)) for r in rows]).tocsr()

    @staticmethod
    def _dense(messages: list[Message]) -> np.ndarray | None:
        """The sentence encoder's vectors (SentenceEncoderFeaturizer), if any."""
        vectors = []
        for message in messages:
            _, sentence = message.get_dense_features(TEXT)
            if sentence is None:
                return None
            vectors.append(np.asarray(sentence.features, dtype=np.float64).reshape(-1))
        return np.vstack(vectors) if vectors else None

    def _combine(self, sparse: scipy.sparse.csr_matrix, dense: np.ndarray | None) -> scipy.sparse.csr_matrix:
        weight = float(self._config["dense_weight"])
        if dense is None or not weight:
            return sparse
        return scipy.sparse.hstack([sparse, scipy.sparse.csr_matrix(dense * weight)]).tocsr()

    def train(self, training_data: TrainingData) -> Resource:
        from sklearn.feature_extraction.text import TfidfTransformer

        examples = [e for e in training_data.intent_examples if e.get(INTENT) and e.get(TEXT)]
        if not examples:
            return self._resource
        tfidf = TfidfTransformer(sublinear_tf=True)
        features = self._combine(tfidf.fit_transform(self._features(examples)).tocsr(), self._dense(examples))
        params: dict[str, np.ndarray] = {"idf": tfidf.idf_}
        settings = (self._config["C"], self._config["max_iter"], self._config["random_state"])
        topic_labels = [str(e.get(INTENT)) for e in examples]
        # P(answer | topic): one model per topic, trained on that topic's examples only. It is
        # what the answer choice needs, and a tenth of the work of one model over every answer.
        by_topic: dict[str, list[int]] = {}
        for i, example in enumerate(examples):
            if example.get(INTENT_RESPONSE_KEY):
                by_topic.setdefault(str(example.get(INTENT)), []).append(i)
        # The topic model and the answer models are independent: fitted side by side, one per core
        # (the topic model first, as the longest). The same models as one after the other, up to float
        # rounding (about 1e-5: numpy in a worker process may sum in another order).
        tasks = [delayed(fit_logistic)(features, topic_labels, *settings)]
        tasks += [delayed(fit_on_used_columns)(features[rows], [str(examples[i].get(INTENT_RESPONSE_KEY)) for i in rows],
                                               *settings) for _, rows in sorted(by_topic.items())]
        results = Parallel(n_jobs=self._config["n_jobs"], backend="loky")(tasks)
        params["topic_coef"], params["topic_intercept"], params["topic_classes"] = results[0]
        # each topic's share of the training examples: the emergency tiers are read against it (EmergencySafetyNet)
        counts = Counter(topic_labels)
        params["topic_prior"] = np.array([counts[str(c)] / len(topic_labels) for c in params["topic_classes"]])
        blocks = results[1:]
        if blocks:
            params["question_coef"] = np.vstack([b[0] for b in blocks])
            params["question_intercept"] = np.concatenate([b[1] for b in blocks])
            params["question_classes"] = np.concatenate([b[2] for b in blocks])
        self._params = params
        with self._storage.write_to(self._resource) as directory:
            np.savez(Path(directory) / self.MODEL_FILE, **params)
        return self._resource

    def _weight_columns(self, prefix: str) -> np.ndarray | scipy.sparse.csr_matrix:
        """The coefficients as (features, classes), made once, in float32:
        sparse when most are zero (each topic's answer model only weighs the
        features its examples have: about a third), else dense in C order (a
        transposed view would make scipy copy the whole matrix on every
        message). A Rasa worker holds 50 MB instead of 220 MB (issue 13)."""
        if prefix not in self._weights:
            columns = np.asarray(self._params[f"{prefix}_coef"], dtype=np.float32).T
            sparse = np.count_nonzero(columns) < columns.size / 2
            self._weights[prefix] = scipy.sparse.csr_matrix(columns) if sparse else np.ascontiguousarray(columns)
            del self._params[f"{prefix}_coef"]  # (saved with the model already; not kept twice)
        return self._weights[prefix]

    def _probabilities(self, prefix: str, x: scipy.sparse.csr_matrix) -> np.ndarray:
        """Softmax over the classes; for "question", within each topic's
        block of answers (P(answer | topic), summing to 1 per topic)."""
        logits = sparse_product(x, self._weight_columns(prefix)) + self._params[f"{prefix}_intercept"]
        probs = np.empty_like(logits)
        for block in self._blocks(prefix):
            exp = np.exp(logits[:, block] - logits[:, block].max(axis=1, keepdims=True))
            probs[:, block] = exp / exp.sum(axis=1, keepdims=True)
        return probs

    def _blocks(self, prefix: str) -> list[slice]:
        """Column ranges that share one softmax: all topics; each topic's answers."""
        if prefix not in self._softmax_blocks:
            width = len(self._params[f"{prefix}_intercept"])
            classes = [str(c) for c in self._params.get(f"{prefix}_classes", [""] * width)]
            groups = [c.split("/", 1)[0] for c in classes] if prefix == "question" else [""] * width
            starts = [i for i in range(width) if i == 0 or groups[i] != groups[i - 1]]
            self._softmax_blocks[prefix] = [slice(a, b) for a, b in zip(starts, [*starts[1:], width], strict=True)]
        return self._softmax_blocks[prefix]

    def process(self, messages: list[Message]) -> list[Message]:
        if not self._params or not messages:
            return messages
        idf = self._params["idf"]
        raw = self._features(messages)
        if raw.shape[1] != idf.shape[0]:  # e.g. a message with no features at all
            raw = scipy.sparse.csr_matrix((raw.shape[0], idf.shape[0]))
        x = self._combine(tfidf_rows(raw, idf), self._dense(messages))
        if x.shape[1] != self._weight_columns("topic").shape[0]:  # trained with(out) the sentence vectors
            logger.error("TopicClassifier: feature width %d, model expects %d; retrain the model.",
                         x.shape[1], self._weight_columns("topic").shape[0])
            return messages
        topics = self._probabilities("topic", x)
        questions = self._probabilities("question", x) if "question_intercept" in self._params else None
        topic_names = self._params["topic_classes"]
        for row, message in enumerate(messages):
            order = np.argsort(-topics[row])[: self._config["ranking_length"]]
            ranking = [{"name": str(topic_names[i]), "confidence": float(topics[row, i])} for i in order]
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
            if "topic_prior" in self._params:
                message.set(TOPIC_PRIORS, {str(t): float(p) for t, p in
                                           zip(topic_names, self._params["topic_prior"], strict=True)})
            if questions is not None:
                self._select_question(message, ranking[0]["name"], questions[row])
                # Every question's probability, so that a short follow-up ("and
                # for children?") can be placed within the previous topic.
                names = self._params["question_classes"]
                message.set("question_scores", {str(n): round(float(p), 4) for n, p in zip(names, questions[row], strict=True)},
                            add_to_output=True)
                message.set("answer_choice", self._choose_answer(topic_names, topics[row], questions[row]),
                            add_to_output=True)
        return messages

    def _choose_answer(self, topic_names: np.ndarray, topics: np.ndarray, questions: np.ndarray) -> dict[str, Any]:
        """The answer the message asks for, by the joint probability P(topic) x
        P(answer | topic) over every answer, and whether it is sure enough to
        be given as THE answer (threshold and margin over the next answer);
        the closest few are kept for "Is it one of these?"."""
        names = [str(n) for n in self._params["question_classes"]]
        topic_p = {str(t): float(p) for t, p in zip(topic_names, topics, strict=True)}
        within: dict[str, float] = {}
        for name, p in zip(names, questions, strict=True):
            within[name.split("/", 1)[0]] = within.get(name.split("/", 1)[0], 0.0) + float(p)
        joint = {name: topic_p.get(name.split("/", 1)[0], 0.0) * float(p) / (within[name.split("/", 1)[0]] or 1.0)
                 for name, p in zip(names, questions, strict=True)}
        ranked = sorted(joint, key=joint.__getitem__, reverse=True)
        best = ranked[0]
        second = joint[ranked[1]] if len(ranked) > 1 else 0.0
        sure = joint[best] >= self._config["answer_threshold"] and joint[best] - second >= self._config["answer_margin"]
        candidates = [n for n in ranked if not n.startswith(EMERGENCY_INTENT + "/")][: int(self._config["answer_candidates"])]
        return {"id": best, "confidence": round(joint[best], 4), "sure": bool(sure), "candidates": candidates}

    def _select_question(self, message: Message, topic: str, probs: np.ndarray) -> None:
        names = [str(n) for n in self._params["question_classes"]]
        select_question(message, topic, dict(zip(names, (float(p) for p in probs), strict=True)))


def select_question(message: Message, topic: str, scores: dict[str, float]) -> None:
    """Set Rasa's `response_selector` output: the question within `topic`
    with the highest score (scores renormalised within the topic)."""
    inside = {name: p for name, p in scores.items() if name.startswith(topic + "/")}
    if not inside:
        message.set(RESPONSE_SELECTOR_PROPERTY_NAME, {}, add_to_output=True)
        return
    total = sum(inside.values()) or 1.0
    ranked = sorted(inside, key=lambda n: -inside[n])
    ranking = [{"intent_response_key": name, "confidence": inside[name] / total} for name in ranked[:5]]
    top = ranking[0]
    prediction = {
        RESPONSE_SELECTOR_PREDICTION_KEY: {
            "responses": [],
            "confidence": top["confidence"],
            "intent_response_key": top["intent_response_key"],
            "utter_action": f"utter_{top['intent_response_key']}",
        },
        RESPONSE_SELECTOR_RANKING_KEY: ranking,
    }
    selector = {RESPONSE_SELECTOR_RETRIEVAL_INTENTS: [topic], topic: prediction,
                RESPONSE_SELECTOR_DEFAULT_INTENT: prediction}
    message.set(RESPONSE_SELECTOR_PROPERTY_NAME, selector, add_to_output=True)


def tfidf_rows(counts: scipy.sparse.csr_matrix, idf: np.ndarray) -> scipy.sparse.csr_matrix:
    """What sklearn's TfidfTransformer(sublinear_tf=True) gives at training,
    computed on the stored values only: 1 + log(count), times idf, each row
    L2-normalised. (Multiplying by a 136 000-wide diagonal matrix, as before,
    cost 10 ms a message.)"""
    x = counts.astype(np.float64).tocsr(copy=True)
    x.sum_duplicates()
    rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
    x.data = (1.0 + np.log(np.maximum(x.data, 1e-12))) * idf[x.indices]
    norms = np.sqrt(np.bincount(rows, weights=x.data ** 2, minlength=x.shape[0]))
    norms[norms == 0] = 1.0
    x.data /= norms[rows]
    return x


def sparse_product(x: scipy.sparse.csr_matrix, weights: np.ndarray | scipy.sparse.csr_matrix) -> np.ndarray:
    """x @ weights as a dense array. For sparse weights, each message's row
    is the weighted sum of the weight rows its features select: a message
    uses a few hundred of the 136 000 features, and scipy's general sparse
    product cost several times more."""
    if not scipy.sparse.issparse(weights):
        return np.asarray(x @ weights)
    out = np.zeros((x.shape[0], weights.shape[1]), dtype=np.float64)
    for row in range(x.shape[0]):
        start, end = x.indptr[row], x.indptr[row + 1]
        if end > start:
            out[row] = weights[x.indices[start:end]].T @ x.data[start:end]
    return out


def example_language(example: Message) -> str | None:
    """The `lang` a training example was written in (intent metadata)."""
    metadata = example.get("metadata") or {}
    for scope in ("example", "intent"):
        value = (metadata.get(scope) or {}).get("lang")
        if value:
            return str(value)
    return None


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class LanguageDetector(GraphComponent):
    """Detects each message's language; trains its n-gram model on the
    training examples' `lang` metadata."""

    MODEL_FILE = "language_model.json"

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"reliable_threshold": 0.6}

    def __init__(self, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
                 learned: LearnedLanguageModel | None = None) -> None:
        self._config = {**self.get_default_config(), **config}
        self._storage, self._resource = model_storage, resource
        self._learned = learned
        self._identifier: LanguageIdentifier | None = None

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> LanguageDetector:
        return cls(config, model_storage, resource)

    @classmethod
    def load(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> LanguageDetector:
        learned = None
        try:
            with model_storage.read_from(resource) as directory:
                data = json.loads((Path(directory) / cls.MODEL_FILE).read_text(encoding="utf-8"))
                learned = LearnedLanguageModel.from_dict(data)
        except (ValueError, FileNotFoundError):
            logger.warning("No learned language model in this Rasa model; using Lingua and script rules only.")
        return cls(config, model_storage, resource, learned)

    def train(self, training_data: TrainingData) -> Resource:
        texts, labels = [], []
        for example in training_data.intent_examples:
            lang = example_language(example)
            # Messages of only Norwegian loanwords or shared greetings ("NAV",
            # "tolk") say nothing about the writer's language: not learned.
            if lang and example.get(TEXT) and (content_words(example.get(TEXT)) or _non_latin(example.get(TEXT))):
                texts.append(example.get(TEXT))
                labels.append(lang)
        if len(set(labels)) < 2:
            logger.warning("Training data has fewer than two languages in its metadata; no learned language model.")
            return self._resource
        self._learned = LearnedLanguageModel.train(texts, labels)
        with self._storage.write_to(self._resource) as directory:
            (Path(directory) / self.MODEL_FILE).write_text(json.dumps(self._learned.to_dict()), encoding="utf-8")
        return self._resource

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        if self._identifier is None:
            self._identifier = LanguageIdentifier(self._learned, reliable_threshold=self._config["reliable_threshold"])
        for message in messages:
            text = message.get(TEXT) or ""
            detection = self._identifier.detect(text)
            message.set("language", detection.language or None, add_to_output=True)
            message.set("language_confidence", detection.confidence, add_to_output=True)
            message.set("language_reliable", detection.reliable, add_to_output=True)
        return messages


def _non_latin(text: str) -> bool:
    return any(script in script_counts(text) for script in ("ethiopic", "arabic", "cyrillic"))


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class EmergencySafetyNet(GraphComponent):
    """Decides whether a message is an emergency, and how sure that is.

    - A safety pattern matches (data/safety/<lang>.yml, any language): the
      intent becomes `emergency` with confidence 1.0, tier `clear`, and the
      pattern's kind of danger.
    - The model says `emergency` with at least `clear_confidence`: `clear`.
    - The model says `emergency` less surely, or gives it at least
      `possible_confidence` while another topic wins: tier `possible` (the
      assistant asks "Is someone in danger right now?").
    - Otherwise, and for a short message with no pattern unless the model
      is at least `short_confidence` sure ("I don't know", "I have a
      question" never are): not an emergency; the next topic wins.

    The result is `emergency: {tier, kind, source}` in the parse output.
    Patterns are read when the server starts, so a new pattern needs a
    restart, not a retrain.
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"patterns_dir": "data/safety", "clear_confidence": 0.8, "possible_confidence": 0.35,
                "min_words": 5, "short_confidence": 0.75,
                # the emergency share of the training data the thresholds above were chosen with: the model's
                # probability is read as if emergencies still made up this share, so adding answers about
                # other things does not quietly raise the bar for an alarm
                "reference_share": 0.13}

    def __init__(self, net: SafetyNet, config: dict[str, Any] | None = None) -> None:
        self._net = net
        self._config = {**self.get_default_config(), **(config or {})}

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> EmergencySafetyNet:
        config = {**cls.get_default_config(), **config}
        directory = os.environ.get("SAFETY_PATTERNS_DIR") or config["patterns_dir"]
        net = SafetyNet.from_directory(Path(directory))
        logger.info("Emergency safety net loaded with %d patterns.", len(net))
        return cls(net, config)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            match = self._net.match(text, prefer=message.get("language"),
                                    reliable=bool(message.get("language_reliable")))
            message.set("emergency_net", bool(match), add_to_output=True)
            message.set("emergency_probability", round(_p_emergency(message), 4), add_to_output=True)
            message.set("emergency", self.decide(message, match), add_to_output=True)
        return messages

    def decide(self, message: Message, match: SafetyMatch | None) -> dict[str, str] | None:
        """Set the intent (and question) for this message; return the tier."""
        intent = message.get(INTENT) or {}
        share = (message.get(TOPIC_PRIORS) or {}).get(EMERGENCY_INTENT)
        p_emergency = prior_adjusted(_p_emergency(message), share, self._config["reference_share"])
        scores = message.get("question_scores") or {}
        model_kind = _best_kind(scores)
        if match is not None:
            override(message, 1.0)
            kind = match.kind if match.kind != "general" else model_kind
            return {"tier": "clear", "kind": kind, "source": "pattern"}
        text = message.get(TEXT) or ""
        if text.startswith("/"):  # a button: its intent stands
            return {"tier": "clear", "kind": model_kind, "source": "button"} if intent.get("name") == EMERGENCY_INTENT else None
        # A short message ("I don't know", "help?") is an emergency only by a
        # pattern or when the model is very sure ("7ari2 bil matbakh").
        short = len(content_words(text) or text.split()) < self._config["min_words"]
        if short and p_emergency < self._config["short_confidence"]:
            if intent.get("name") == EMERGENCY_INTENT:
                demote(message, scores)
            return None
        if intent.get("name") == EMERGENCY_INTENT and p_emergency >= self._config["clear_confidence"]:
            select_question(message, EMERGENCY_INTENT, scores)
            return {"tier": "clear", "kind": model_kind, "source": "model"}
        if p_emergency >= self._config["possible_confidence"]:
            override(message, p_emergency)
            select_question(message, EMERGENCY_INTENT, scores)
            return {"tier": "possible", "kind": model_kind, "source": "model"}
        if intent.get("name") == EMERGENCY_INTENT:
            demote(message, scores)
        return None


def prior_adjusted(p: float, share: float | None, reference: float) -> float:
    """`p` as the model would give it had the class made up `reference` of
    its training data instead of `share` (the odds scale by the prior odds)."""
    if not share or not 0.0 < share < 1.0 or not 0.0 < reference < 1.0 or not 0.0 < p < 1.0:
        return p
    odds = p / (1 - p) * (reference / (1 - reference)) / (share / (1 - share))
    return odds / (1 + odds)


def _p_emergency(message: Message) -> float:
    """The model's probability that the message is an emergency."""
    ranking = message.get(INTENT_RANKING_KEY) or []
    return next((float(r.get("confidence") or 0.0) for r in ranking if r.get("name") == EMERGENCY_INTENT), 0.0)


def _best_kind(scores: dict[str, float]) -> str:
    kinds = {name.split("/", 1)[1]: p for name, p in scores.items() if name.startswith(EMERGENCY_INTENT + "/")}
    return max(kinds, key=kinds.__getitem__) if kinds else "general"


def override(message: Message, confidence: float = 1.0) -> None:
    """Make `emergency` the predicted intent, keeping the rest of the ranking."""
    ranking = [r for r in (message.get(INTENT_RANKING_KEY) or []) if r.get("name") != EMERGENCY_INTENT]
    top = {"name": EMERGENCY_INTENT, "confidence": confidence}
    message.set(INTENT, top, add_to_output=True)
    message.set(INTENT_RANKING_KEY, [top, *ranking], add_to_output=True)


def demote(message: Message, scores: dict[str, float]) -> None:
    """Not an emergency after all: the next topic wins, with its question."""
    ranking = [r for r in (message.get(INTENT_RANKING_KEY) or []) if r.get("name") != EMERGENCY_INTENT]
    if not ranking:
        return
    message.set(INTENT, ranking[0], add_to_output=True)
    message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
    select_question(message, str(ranking[0]["name"]), scores)
