"""Answers from the knowledge base, for every knowledge topic."""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import AssistantAction, Events, understood
from actions.checklist import next_button
from actions.knowledge import catalog, knowledge
from actions.replies import topic_buttons
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
        answer_id = kb.answer_for(turn.topic, turn.question)
        if answer_id is None:  # a topic with no answer yet: show the menu
            texts = catalog()
            dispatcher.utter_message(text=texts.text("topics.choose", turn.language),
                                     buttons=topic_buttons(texts, turn.language))
            return understood()
        return give_answer(dispatcher, answer_id, turn)
