"""Sender ids are built and read in one place (core/senders.py)."""

from core.senders import address_of, case_channel, channel_of, sender_id


def test_round_trip_for_every_channel() -> None:
    for channel, raw in (("telegram", 42), ("sms", "+4791234567"), ("web", "abcdef0123456789")):
        sender = sender_id(channel, raw)
        assert channel_of(sender) == channel and address_of(sender) == str(raw)


def test_a_sender_of_no_channel_of_ours_is_rest_and_never_a_label_per_person() -> None:
    assert channel_of("3f2a9c-random-scorer-id") == "rest" and case_channel("x") == "rest"
    assert channel_of("evil:1") == "rest" and case_channel("tg:5") == "tg"
