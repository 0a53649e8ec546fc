"""Answers from the knowledge base, for every knowledge topic."""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import AssistantAction, Events, understood
from actions.knowledge import catalog, knowledge
from actions.replies import topic_buttons
from actions.turn import Turn

LAST_ANSWER_SLOT = "last_answer"


class ActionAnswerTopic(AssistantAction):
    """Answers the question the response selector picked, or the topic's
    default answer, in the person's language, ending with its source."""

    def name(self) -> str:
        return "action_answer_topic"

    def respond(self, dispatcher: CollectingDispatcher, turn: Turn, tracker: Tracker) -> Events:
        kb = knowledge()
        answer_id = kb.answer_for(turn.topic, turn.question)
        if answer_id is None:  # a topic with no answer yet: show the menu
            texts = catalog()
            dispatcher.utter_message(text=texts.text("topics.choose", turn.language),
                                     buttons=topic_buttons(texts, turn.language))
            return understood()
        buttons = topic_buttons(catalog(), turn.language, ["caseworker"]) if turn.topic == "interpreter" else []
        dispatcher.utter_message(text=kb.render(answer_id, turn.language), buttons=buttons)
        return understood() + [SlotSet(LAST_ANSWER_SLOT, answer_id)]
