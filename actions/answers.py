"""Answers from the knowledge base, for every knowledge topic."""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import AssistantAction, Events, remember_unanswered, understood
from actions.checklist import next_button
from actions.knowledge import catalog, knowledge
from actions.replies import answer_buttons, topic_buttons
from actions.turn import LAST_ANSWER_SLOT, Turn
from ops import metrics

INTERPRETER_REQUEST_PAYLOAD = '/interpreter{"request":"yes"}'


def give_answer(dispatcher: CollectingDispatcher, answer_id: str, turn: Turn, step: str | None = None) -> Events:
    """Say one answer (with its source) in the person's language."""
    texts = catalog()
    buttons = []
    if answer_id.startswith("interpreter/"):  # offer the request form, and a person
        buttons = [{"title": texts.text("interp.request.button", turn.language),
                    "payload": INTERPRETER_REQUEST_PAYLOAD}] + topic_buttons(texts, turn.language, ["caseworker"])
    if step is not None:
        buttons = next_button(texts, turn.language, step)
    dispatcher.utter_message(text=knowledge().render(answer_id, turn.language), buttons=buttons)
    metrics.ANSWERS.labels(turn.language, answer_id.split("/", 1)[0]).inc()
    if step is not None and not buttons:
        dispatcher.utter_message(text=texts.text("checklist.done", turn.language))
    return understood() + [SlotSet(LAST_ANSWER_SLOT, answer_id)]


class ActionAnswerTopic(AssistantAction):
    """Answers the question the classifier picked (or a button named), else
    the topic's default answer, in the person's language, with its source."""

    def name(self) -> str:
        return "action_answer_topic"

    def respond(self, dispatcher: CollectingDispatcher, turn: Turn, tracker: Tracker) -> Events:
        kb = knowledge()
        named = turn.entity("answer") if turn.from_button else None
        if named in kb.answers and named.startswith(turn.topic + "/"):
            return give_answer(dispatcher, named, turn, step=turn.entity("step"))
        if turn.from_button:  # a topic button: the topic's main answer
            answer_id = kb.answer_for(turn.topic, None)
        elif turn.answer is None or not any(q.startswith(turn.topic + "/") for q, _ in turn.question_scores):
            # no answer choice, or a topic whose questions the model does not tell apart (interpreter):
            # the question within the topic, else the topic's answer
            answer_id = kb.answer_for(turn.topic, turn.question)
        else:
            answer_id = turn.answer if turn.answer_sure and turn.answer.startswith(turn.topic + "/") else None
            if answer_id not in kb.answers:
                return no_answer(dispatcher, turn)
        if answer_id is None:  # a topic with no answer yet: show the menu
            texts = catalog()
            dispatcher.utter_message(text=texts.text("topics.choose", turn.language),
                                     buttons=topic_buttons(texts, turn.language))
            return understood()
        return give_answer(dispatcher, answer_id, turn)


def no_answer(dispatcher: CollectingDispatcher, turn: Turn) -> Events:
    """An honest "I have no sure answer": the closest answers as buttons, a
    person offered, and the question recorded for the people who write the
    knowledge base. Never an unrelated answer presented as the answer."""
    texts, kb = catalog(), knowledge()
    candidates = [a for a in turn.answer_candidates if a in kb.answers][:3]
    buttons = answer_buttons(texts, turn.language, candidates) + topic_buttons(texts, turn.language, ["caseworker"])
    dispatcher.utter_message(text=texts.text("answer.none", turn.language), buttons=buttons)
    metrics.FALLBACKS.labels(turn.language, "no_answer").inc()
    remember_unanswered(turn)
    return understood()
