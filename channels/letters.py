"""Letters people send as a photo or PDF (Telegram, web chat): read offline
(`letters/`), explained in the person's language, and handed to the
caseworker only when the person asks.

Privacy: a letter holds personal numbers and health details. It is read in
memory, never written to disk or to a log; the explanation is kept in this
process for `keep_seconds` (so "send it to my caseworker" can hand it over)
and then forgotten. Only "send it to my caseworker" stores it, in the case,
where erasure and retention reach it like every case text.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from dataclasses import dataclass, field

from caseworkers.cases import CaseStore
from channels.assistant import Button, Reply
from core.senders import case_channel
from letters import Explanation, LetterError, error_message, explain, read_letter
from locales.catalog import Catalog

#: The payload of "send it to my caseworker": answered by the channel server, never by Rasa.
HAND_OVER = "letter:caseworker"


@dataclass
class LetterDesk:
    cases: CaseStore
    catalog: Catalog
    keep_seconds: float = 1800.0
    _recent: dict[str, tuple[float, Explanation]] = field(default_factory=dict)

    async def read(self, sender: str, data: bytes, filename: str, mime: str | None, lang: str,
                   today: dt.date | None = None) -> Reply:
        """The explanation (with its buttons), or why the letter could not be read."""
        try:
            reading = await asyncio.to_thread(read_letter, data, filename, mime)  # OCR: seconds of CPU
        except LetterError as error:
            return Reply(error_message(error, lang), language=lang)
        explanation = explain(reading, lang, today or dt.date.today())
        self._forget_old()
        self._recent[sender] = (time.monotonic(), explanation)
        buttons = []
        for choice in explanation.choices:
            if choice.id == "letter.more" and explanation.answer_id:
                topic = explanation.answer_id.split("/", 1)[0]
                buttons.append(Button(choice.label, f'/{topic}{json.dumps({"answer": explanation.answer_id})}'))
            elif choice.id == "letter.caseworker":
                buttons.append(Button(choice.label, HAND_OVER))
            elif choice.id == "letter.interpreter":
                buttons.append(Button(choice.label, "/interpreter"))
        return Reply(explanation.text, tuple(buttons), language=lang)

    def hand_over(self, sender: str, lang: str) -> Reply:
        """Open (or add to) the person's case with the letter's Norwegian text,
        the facts found and the deadline first; forget it here."""
        kept = self._recent.pop(sender, None)
        if kept is None or time.monotonic() - kept[0] > self.keep_seconds:
            return Reply(self.catalog.text("letter.expired", lang), language=lang)
        explanation = kept[1]
        lang = explanation.lang  # answered in the language the letter was explained in
        topic = explanation.answer_id.split("/", 1)[0] if explanation.answer_id else "caseworker"
        case, _ = self.cases.open_case(sender=sender, channel=case_channel(sender), language=lang, topic=topic,
                                       text=explanation.summary_nb,
                                       text_nb=f"Brev fra personen. {explanation.summary_nb}\n\n"
                                               f"{explanation.norwegian_text}",
                                       facts={"topic": topic, "question": explanation.answer_id, "reason": "letter"})
        return Reply(self.catalog.text("letter.sent", lang, reference=case["reference"]), language=lang)

    def forget(self, sender: str) -> None:
        """/delete: the letter kept in memory goes too."""
        self._recent.pop(sender, None)

    def _forget_old(self) -> None:
        cutoff = time.monotonic() - self.keep_seconds
        for sender in [s for s, (at, _) in self._recent.items() if at < cutoff]:
            del self._recent[sender]
