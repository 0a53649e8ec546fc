"""Sender ids: one person on one channel, the key of their conversation in
Rasa, the channel database and the case database. `tg:<chat id>`,
`sms:<E.164 number>`, `web:<random id from the browser>`; anything else
(Rasa's REST channel used directly, e.g. by a scorer) is channel `rest`."""

from __future__ import annotations

#: Sender prefix -> channel name (metrics labels, the channel that delivers).
PREFIXES = {"tg": "telegram", "sms": "sms", "web": "web"}


def sender_id(channel: str, raw: str | int) -> str:
    """The sender id of `raw` (a chat id, a number, a browser id) on `channel`."""
    prefix = next(p for p, name in PREFIXES.items() if name == channel)
    return f"{prefix}:{raw}"


def channel_of(sender: str) -> str:
    """"telegram", "sms", "web", or "rest" for a sender of no channel of ours."""
    prefix, sep, _ = sender.partition(":")
    return PREFIXES.get(prefix, "rest") if sep else "rest"


def address_of(sender: str) -> str:
    """What the channel sends to: the chat id, the phone number, the browser id."""
    return sender.partition(":")[2]


def case_channel(sender: str) -> str:
    """The short channel name a case records ("tg", "sms", "web", "rest")."""
    prefix, sep, _ = sender.partition(":")
    return prefix if sep and prefix in PREFIXES else "rest"
