"""Logging set-up shared by the channel server and the action server.

LOG_FORMAT=json gives one JSON object per line (python-json-logger) for a
log collector; the default is plain text. Messages never carry message
text, phone numbers or chat ids (see core.privacy); this only shapes them.
"""

from __future__ import annotations

import logging
import os

from pythonjsonlogger.json import JsonFormatter

PLAIN = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(service: str, level: str | None = None, fmt: str | None = None) -> None:
    fmt = (fmt or os.environ.get("LOG_FORMAT", "text")).lower()
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                                           rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                                           static_fields={"service": service}))
    else:
        handler.setFormatter(logging.Formatter(PLAIN))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel((level or os.environ.get("LOG_LEVEL", "INFO")).upper())
    for noisy in ("httpx", "httpcore"):  # httpx logs request URLs, which carry the Telegram bot token
        logging.getLogger(noisy).setLevel(logging.WARNING)
