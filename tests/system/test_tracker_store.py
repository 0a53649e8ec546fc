"""The tracker store that reads only recent turns (ops/tracker_store.py):
the conversation it rebuilds has exactly the state Rasa's own SQL tracker
store rebuilds from the whole session, it reads a bounded number of events,
and every event is stored once."""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasa.core.tracker_store import SQLTrackerStore, TrackerStore
from rasa.core.utils import AvailableEndpoints
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActionExecutionRejected,
    ActiveLoop,
    AllSlotsReset,
    BotUttered,
    ConversationPaused,
    ConversationResumed,
    Event,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity

from ops.tracker_store import RecentTurnsTrackerStore
from tests.training_data import ROOT

DOMAIN = Domain.load(str(ROOT / "domain.yml"))
SENDER = "web:test"
FORM = "interpreter_form"


class Clock:
    """Strictly increasing event times (Rasa's session query compares them)."""

    def __init__(self) -> None:
        self.ticks = itertools.count(1_700_000_000)

    def __call__(self) -> float:
        return float(next(self.ticks))


def open_stores(folder: Path, recent_turns: int) -> tuple[RecentTurnsTrackerStore, SQLTrackerStore]:
    db = str(folder / "tracker.db")
    return (RecentTurnsTrackerStore(domain=DOMAIN, dialect="sqlite", db=db, recent_turns=recent_turns),
            SQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=db))


def state(tracker: DialogueStateTracker) -> dict:
    """What Rasa and the actions see, without the events themselves. The
    active loop's trigger message (informative only in Rasa 3.6) is the one
    thing not rebuilt."""
    current = tracker.current_state(EventVerbosity.NONE)
    if current.get("active_loop"):
        current["active_loop"] = {k: v for k, v in current["active_loop"].items() if k != "trigger_message"}
    return current


async def take_turn(store: TrackerStore, events: list[Event]) -> DialogueStateTracker:
    """What Rasa's processor does with a message: read, add events, save."""
    tracker = await store.get_or_create_tracker(SENDER, append_action_listen=False)
    for event in events:
        tracker.update(event, DOMAIN)
    await store.save(tracker)
    return tracker


def opening(clock: Clock) -> list[Event]:
    return [ActionExecuted("action_session_start", timestamp=clock()), SessionStarted(timestamp=clock()),
            ActionExecuted("action_listen", timestamp=clock())]


def turn(clock: Clock, text: str, middle: list[Event] = ()) -> list[Event]:
    return [UserUttered(text, {"name": "nav", "confidence": 0.9}, timestamp=clock()), *middle,
            ActionExecuted("action_answer_topic", timestamp=clock()), BotUttered(f"re: {text}", timestamp=clock()),
            ActionExecuted("action_listen", timestamp=clock())]


# -- what can happen inside a turn ----------------------------------------------------------------
TEXT_SLOTS = ("language", "danger_asked", "last_answer", "interp_place")
step = st.one_of(
    st.tuples(st.just("slot"), st.sampled_from(TEXT_SLOTS), st.sampled_from([None, "ar", "uk", "nav/apply"])),
    st.tuples(st.just("loop"), st.sampled_from([FORM, None])),
    st.tuples(st.sampled_from(["form_ran", "form_rejected", "reset_slots", "restart", "new_session", "pause",
                               "resume", "rewind"])),
)
conversation = st.lists(st.lists(step, max_size=3), min_size=1, max_size=14)
rare = {"restart", "new_session", "rewind"}


def events_of(steps: list[tuple], clock: Clock) -> list[Event]:
    made: list[Event] = []
    for kind, *args in steps:
        if kind == "slot":
            made.append(SlotSet(args[0], args[1], timestamp=clock()))
        elif kind == "loop":
            made.append(ActiveLoop(args[0], timestamp=clock()))
        elif kind == "form_ran":
            made.append(ActionExecuted(FORM, timestamp=clock()))
        elif kind == "form_rejected":
            made.append(ActionExecutionRejected(FORM, timestamp=clock()))
        elif kind == "reset_slots":
            made.append(AllSlotsReset(timestamp=clock()))
        elif kind == "restart":
            made.append(Restarted(timestamp=clock()))
        elif kind == "new_session":  # a session start carries the language over
            made += [SessionStarted(timestamp=clock()), SlotSet("language", "so", timestamp=clock())]
        elif kind == "pause":
            made.append(ConversationPaused(timestamp=clock()))
        elif kind == "resume":
            made.append(ConversationResumed(timestamp=clock()))
        elif kind == "rewind":
            made.append(UserUtteranceReverted(timestamp=clock()))
    return made


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(turns=conversation, recent=st.integers(min_value=1, max_value=4))
def test_the_rebuilt_conversation_has_the_state_of_the_whole_session(turns: list[list[tuple]], recent: int) -> None:
    async def run() -> None:
        clock = Clock()
        with tempfile.TemporaryDirectory() as folder:
            ours, rasa = open_stores(Path(folder), recent)
            written = await take_turn(ours, opening(clock))
            everything = list(written.events)
            for n, steps in enumerate(turns):
                new = turn(clock, f"message {n}", events_of(steps, clock))
                await take_turn(ours, new)
                everything += new
                rebuilt, whole = await ours.retrieve(SENDER), await rasa.retrieve(SENDER)
                assert state(rebuilt) == state(whole), (n, steps)
                assert list(rebuilt.events)[-len(new):] == list(whole.events)[-len(new):]
                stored = await rasa.retrieve_full_tracker(SENDER)
                assert [e.as_dict() for e in stored.events] == [e.as_dict() for e in everything]
            plain = not any(kind in rare for steps in turns for kind, *_ in steps)
            if plain and len(turns) > recent + 1:
                assert len(rebuilt.events) < len(whole.events)  # it did read fewer events

    asyncio.run(run())


def test_a_language_chosen_first_and_an_open_form_survive_a_long_conversation(tmp_path: Path) -> None:
    async def run() -> list[int]:
        clock = Clock()
        ours, rasa = open_stores(tmp_path, recent_turns=5)
        await take_turn(ours, opening(clock))
        await take_turn(ours, turn(clock, "/language", [SlotSet("language", "uk", timestamp=clock()),
                                                        SlotSet("language_pinned", True, timestamp=clock())]))
        read: list[int] = []
        for n in range(60):
            middle = [ActiveLoop(FORM, timestamp=clock()), SlotSet("requested_slot", "interp_place",
                                                                    timestamp=clock())] if n == 30 else []
            await take_turn(ours, turn(clock, f"question {n}", middle))
            read.append(len((await ours.retrieve(SENDER)).events))
        tracker = await ours.retrieve(SENDER)
        assert tracker.get_slot("language") == "uk" and tracker.get_slot("language_pinned") is True
        assert tracker.active_loop_name == FORM and tracker.get_slot("requested_slot") == "interp_place"
        assert state(tracker) == state(await rasa.retrieve(SENDER))
        return read

    read = asyncio.run(run())
    assert max(read[10:]) - min(read[10:]) <= 2  # the same few events at question 10 and at 60
    assert max(read) < 50


def test_a_rejected_form_stays_rejected_across_the_cut(tmp_path: Path) -> None:
    async def run() -> None:
        clock = Clock()
        ours, rasa = open_stores(tmp_path, recent_turns=2)
        await take_turn(ours, opening(clock))
        await take_turn(ours, turn(clock, "start", [ActiveLoop(FORM, timestamp=clock()),
                                                    ActionExecuted(FORM, timestamp=clock()),
                                                    ActionExecutionRejected(FORM, timestamp=clock())]))
        for n in range(4):
            await take_turn(ours, turn(clock, f"other {n}"))
        tracker = await ours.retrieve(SENDER)
        assert tracker.is_active_loop_rejected
        assert state(tracker) == state(await rasa.retrieve(SENDER))

    asyncio.run(run())


def test_saving_the_same_conversation_twice_stores_each_event_once(tmp_path: Path) -> None:
    async def run() -> None:
        clock = Clock()
        ours, rasa = open_stores(tmp_path, recent_turns=2)
        await take_turn(ours, opening(clock))
        for n in range(5):
            await take_turn(ours, turn(clock, f"q {n}"))
        tracker = await ours.retrieve(SENDER)
        before = len((await rasa.retrieve_full_tracker(SENDER)).events)
        tracker.update(SlotSet("language", "fa", timestamp=clock()))
        await ours.save(tracker)
        tracker.update(SlotSet("language", "ti", timestamp=clock()))
        await ours.save(tracker)
        await ours.save(tracker)
        stored = (await rasa.retrieve_full_tracker(SENDER)).events
        assert len(stored) == before + 2 and stored[-1] == SlotSet("language", "ti", timestamp=stored[-1].timestamp)

    asyncio.run(run())


@pytest.mark.parametrize("endpoints", ["endpoints.yml", "deploy/endpoints.multi.yml"])
def test_the_endpoints_select_this_store(endpoints: str) -> None:
    config = yaml.safe_load((ROOT / endpoints).read_text(encoding="utf-8"))["tracker_store"]
    assert config["type"] == "ops.tracker_store.RecentTurnsTrackerStore"
    assert int(config["recent_turns"]) >= 5  # the hand-over quotes the last five messages


def test_rasa_builds_it_from_endpoints_yml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_DB", str(tmp_path / "tracker.db"))
    for name in ("ACTION_SERVER_URL", "ACTION_SERVER_TOKEN"):
        monkeypatch.setenv(name, "x")
    store = TrackerStore.create(AvailableEndpoints.read_endpoints(str(ROOT / "endpoints.yml")).tracker_store, DOMAIN)
    assert isinstance(store, RecentTurnsTrackerStore) and store.recent_turns >= 5


def test_two_servers_sharing_postgresql_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """deploy/endpoints.multi.yml as Rasa reads it: two stores (two Rasa
    servers) on one PostgreSQL take turns in one conversation."""
    import secrets

    from tests.conftest import free_port
    from tests.services import start_postgres

    postgres = start_postgres(tmp_path / "pg", free_port(), secrets.token_urlsafe(16))
    try:
        for name, value in postgres.env.items():
            monkeypatch.setenv(name, value)
        for name in ("ACTION_SERVER_URL", "ACTION_SERVER_TOKEN", "REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD",
                     "REDIS_DB"):
            monkeypatch.setenv(name, "0")
        config = AvailableEndpoints.read_endpoints(str(ROOT / "deploy" / "endpoints.multi.yml")).tracker_store
        servers = [TrackerStore.create(config, DOMAIN), TrackerStore.create(config, DOMAIN)]
        assert all(isinstance(s, RecentTurnsTrackerStore) for s in servers)
        rasa = SQLTrackerStore(domain=DOMAIN, dialect="postgresql", host="127.0.0.1", port=postgres.port,
                               db=postgres.database, username=postgres.user, password=postgres.password)

        async def run() -> None:
            clock = Clock()
            await take_turn(servers[0], opening(clock))
            await take_turn(servers[1], turn(clock, "/language", [SlotSet("language", "ti", timestamp=clock())]))
            for n in range(25):
                middle = [ActiveLoop(FORM, timestamp=clock())] if n == 12 else []
                await take_turn(servers[n % 2], turn(clock, f"q {n}", middle))
            for store in servers:
                tracker = await store.retrieve(SENDER)
                assert state(tracker) == state(await rasa.retrieve(SENDER))
                assert tracker.get_slot("language") == "ti" and tracker.active_loop_name == FORM
                assert len(tracker.events) < len((await rasa.retrieve(SENDER)).events) / 2
            assert len((await rasa.retrieve_full_tracker(SENDER)).events) == 3 + 1 + 4 + 25 * 4 + 1

        asyncio.run(run())
        with servers[0].engine.connect() as conn:
            names = {i["name"] for i in sa.inspect(conn).get_indexes("events")}
        assert {"events_sender_kind_name_id", "events_sender_id_id"} <= names
    finally:
        postgres.stop()
