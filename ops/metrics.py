"""Prometheus metrics (prometheus_client). Each service exposes its own at
GET /metrics: the channel server counts messages and sends, the action
server counts answers, fallbacks and cases. Labels never carry anything
about a person: only channel, language, topic and kinds."""

from __future__ import annotations

import hmac

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

# -- channel server -----------------------------------------------------------------
MESSAGES_IN = Counter("nabo_messages_received_total", "Messages received from people", ["channel", "language"])
MESSAGES_OUT = Counter("nabo_messages_sent_total", "Replies handed to a channel", ["channel", "language"])
REPLY_SECONDS = Histogram("nabo_reply_seconds", "From receiving a message to handing its replies to the channel",
                          ["channel"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60))
DUPLICATES = Counter("nabo_duplicate_messages_total", "Webhook deliveries seen before and ignored", ["channel"])
ASSISTANT_DOWN = Counter("nabo_assistant_unavailable_total", "Messages kept because Rasa did not answer",
                         ["channel"])
SEND_FAILURES = Counter("nabo_send_failures_total", "Sends a channel gave up on after its retries", ["channel"])
SEND_RETRIES = Counter("nabo_send_retries_total", "Sends retried after a gateway error", ["channel"])
# read from the databases when /metrics is scraped
OPEN_CASES = Gauge("nabo_open_cases", "Cases not closed yet", ["status"])
PENDING_MESSAGES = Gauge("nabo_pending_messages", "Messages received and not answered yet")
FAILED_SENDS = Gauge("nabo_failed_sends", "Replies recorded as failed, for an operator to look at")

# -- action server --------------------------------------------------------------------
ANSWERS = Counter("nabo_answers_total", "Knowledge-base answers given", ["language", "topic"])
FALLBACKS = Counter("nabo_fallbacks_total", "Messages not answered from the knowledge base",
                    ["language", "kind"])  # kind: clarify, offer_person, out_of_scope
EMERGENCIES = Counter("nabo_emergencies_total", "Emergency numbers given", ["language"])
CASES_OPENED = Counter("nabo_cases_opened_total", "Cases opened for caseworkers", ["kind"])
ACTION_ERRORS = Counter("nabo_action_errors_total", "Actions that raised", ["action"])


def channel_of(sender: str) -> str:
    """The channel label of a sender id (core.senders)."""
    from core.senders import channel_of as of

    return of(sender)


def exposition() -> tuple[bytes, str]:
    """The body and content type of a /metrics response."""
    return generate_latest(), CONTENT_TYPE_LATEST


def authorized(authorization_header: str, token: str) -> bool:
    """`Authorization: Bearer <token>` matches (constant time); no token set: nobody is."""
    given = authorization_header.removeprefix("Bearer ").encode()
    return bool(token) and hmac.compare_digest(given, token.encode())
