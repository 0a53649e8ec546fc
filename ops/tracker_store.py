"""Rasa's SQL tracker store, reading only a conversation's recent turns.

Rasa 3.6 rebuilds a conversation for every message from every event of the
current session (24 hours, `session_config`): the events are read and
deserialised, replayed, turned into the rule policy's state history (and
formatted for a debug line even when debug is off), and sent in full to the
action server. So a turn cost more the longer the person had talked (issue
13: 4.3 times as much at message 300 as at message 30).

Here `retrieve` reads only the events of the last `recent_turns` user
messages, preceded by the events that carry the state from before them: for
each slot its latest `SlotSet`, the latest `ActiveLoop` (a form still being
filled) and the latest pause/resume, each since the session started or the
conversation restarted (slots: or were reset). Replayed by Rasa, these give
the slots, the current form, the language, a pending hand-over and the
"danger asked" question exactly as the whole session would, while the rule
policy and the action server see a short history (rules here span one turn;
the hand-over quotes the last five messages). A form that the person
answered something else to stays rejected. Not rebuilt: the message that
started a form (`trigger_message`, which nothing in Rasa 3.6 reads).

Nothing is written differently: every event is kept, once, in the `events`
table (the full record for erasure, retention and audit; `retrieve_full_tracker`
still reads it all). `save` appends what came after the events it loaded.
The queries use the event ids (not clocks), so several Rasa servers sharing
PostgreSQL (with the Redis lock store serialising a conversation) agree.

A session holding a rewind or undo (`/back`, which can reach back past any
cut) is read whole, as Rasa does.

Selected in endpoints.yml as `type: ops.tracker_store.RecentTurnsTrackerStore`.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterable, Iterator
from typing import Any

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker

logger = logging.getLogger(__name__)

#: The number of events of the tracker that came from the store (see `save`).
STORED_EVENTS = "_events_in_store"
#: Events that start from a clean state; and those that clear only the slots.
RESETS = ("session_started", "restart")
SLOT_RESETS = (*RESETS, "reset_slots")
#: Events that undo earlier ones by position: their session is read whole.
REVERTS = ("rewind", "undo")
#: Events whose latest occurrence before the cut is state: the active loop
#: (`form` is Rasa 2's name for it) and whether the conversation is paused.
LOOP = ("active_loop", "form")
PAUSE = ("pause", "resume")
REJECTED = "action_execution_rejected"

_event = SQLTrackerStore.SQLEvent
#: The queries below find events by conversation and kind (and slot) in
#: position order, and a conversation's events from a position on; Rasa's
#: own index is on the conversation only. Created with a new table, and on
#: an existing one when the store starts.
INDEXES = (
    sa.Index("events_sender_kind_name_id", _event.sender_id, _event.type_name, _event.action_name, _event.id),
    sa.Index("events_sender_id_id", _event.sender_id, _event.id),
)


class RecentTurnsTrackerStore(SQLTrackerStore):
    def __init__(self, domain: Domain | None = None, recent_turns: int = 10, **kwargs: Any) -> None:
        super().__init__(domain=domain, **kwargs)
        self.recent_turns = int(recent_turns)
        for index in INDEXES:
            try:
                with self.engine.begin() as conn:
                    index.create(conn, checkfirst=True)
            except (sa.exc.OperationalError, sa.exc.ProgrammingError, sa.exc.IntegrityError):
                # another Rasa server created it at the same moment (as Rasa allows for the table)
                logger.info("tracker store index %s: created elsewhere or not now", index.name)

    async def _retrieve(self, sender_id: str, fetch_events_from_all_sessions: bool) -> DialogueStateTracker | None:
        if fetch_events_from_all_sessions or self.recent_turns < 1 or not self.domain:
            return await super()._retrieve(sender_id, fetch_events_from_all_sessions)
        with self.session_scope() as session:
            rows = self.recent_events(session, sender_id)
        if rows is None:
            tracker = await super()._retrieve(sender_id, fetch_events_from_all_sessions=False)
        else:
            tracker = DialogueStateTracker.from_dict(sender_id, [json.loads(r) for r in rows], self.domain.slots)
        if tracker is not None:
            setattr(tracker, STORED_EVENTS, len(tracker.events))
        return tracker

    def recent_events(self, session: sa.orm.Session, sender_id: str) -> list[str] | None:
        """The serialised events to rebuild the conversation from: the state
        before the last `recent_turns` user messages, then every event from
        the one just before the first of them (the `action_listen` it came
        to). None: read the session whole (it is short, or holds a rewind).
        Three queries, found through the indexes; only the scan of the
        state-carrying events' index entries grows with the session."""
        event = self.SQLEvent
        mine = event.sender_id == sender_id
        start = sa.select(sa.func.coalesce(sa.func.max(event.id), 0)).where(
            mine, event.type_name == "session_started").scalar_subquery()
        earlier = sa.orm.aliased(event)
        found = session.execute(
            sa.select(event.id, start, sa.select(sa.func.max(earlier.id))
                      .where(earlier.sender_id == sender_id, earlier.id < event.id).scalar_subquery())
            .where(mine, event.type_name == "user", event.id > start)
            .order_by(event.id.desc()).offset(self.recent_turns - 1).limit(1)).first()
        if found is None:
            return None
        _, start_id, window_start = found
        if window_start is None or window_start <= start_id:
            return None  # nothing before the window to leave out
        # per kind of event (and slot, loop or form), the latest before the window and the latest of all
        latest: dict[tuple[str, str | None], tuple[int | None, int]] = {
            (kind, name): (before, last) for kind, name, before, last in session.execute(
                sa.select(event.type_name, event.action_name,
                          sa.func.max(sa.case((event.id < window_start, event.id))), sa.func.max(event.id))
                .where(mine, event.id >= start_id,
                       sa.or_(event.type_name.in_((*SLOT_RESETS, *REVERTS, "slot", *LOOP, *PAUSE, REJECTED)),
                              sa.and_(event.type_name == "action",
                                      event.action_name.in_(list(self.domain.form_names)))))
                .group_by(event.type_name, event.action_name))}
        if any(kind in REVERTS for kind, _ in latest):
            return None
        ids = carried_state(latest, start_id)
        rows = session.execute(
            sa.select(event.data).where(mine, sa.or_(event.id >= window_start, event.id.in_(ids)))
            .order_by(event.id)).all()
        return [data for (data,) in rows]

    def _additional_events(self, session: sa.orm.Session, tracker: DialogueStateTracker) -> Iterator:
        """The events after those read from the store: a tracker rebuilt from
        recent turns holds fewer events than the session, so Rasa's count of
        the stored session would skip new ones."""
        stored = getattr(tracker, STORED_EVENTS, None)
        if stored is None:  # not read through this store (a new conversation, a replaced one)
            return super()._additional_events(session, tracker)
        return itertools.islice(tracker.events, stored, len(tracker.events))

    async def save(self, tracker: DialogueStateTracker) -> None:
        await super().save(tracker)
        setattr(tracker, STORED_EVENTS, len(tracker.events))  # saved again later: only what came after


def carried_state(latest: dict[tuple[str, str | None], tuple[int | None, int]], start: int) -> list[int]:
    """The ids of the events that carry the state into the window, from the
    latest id per (kind, name) before it: each slot's latest value since the
    slots were last reset, the active loop and whether it was rejected since
    it last ran (Rasa then does not simply run it again), and the pause."""

    def before(kinds: Iterable[str], after: int, name: str | None = None) -> int | None:
        return max((b for (kind, n), (b, _) in latest.items()
                    if kind in kinds and (name is None or n == name) and b is not None and b >= after), default=None)

    state_from = before(RESETS, start) or start
    slots_from = before(SLOT_RESETS, start) or start
    ids = [b for (kind, _), (b, _) in latest.items() if kind == "slot" and b is not None and b >= slots_from]
    loop = before(LOOP, state_from)
    if loop is not None:
        ids.append(loop)
        name = next(n for (kind, n), (b, _) in latest.items() if kind in LOOP and b == loop)
        if name is not None:
            rejected, ran = before([REJECTED], loop, name), before(["action"], loop, name)
            if rejected is not None and (ran is None or rejected > ran):
                ids.append(rejected)
    pause = before(PAUSE, state_from)
    return ids + ([pause] if pause is not None else [])
