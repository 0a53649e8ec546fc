"""Channel-side settings: one frozen object built once from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass

from nlu.langid import LANGUAGES


@dataclass(frozen=True)
class Settings:
    rasa_url: str = "http://127.0.0.1:5005"
    webchat_host: str = "127.0.0.1"
    webchat_port: int = 8080
    default_language: str = "nb"
    max_message_chars: int = 2000
    rasa_timeout_seconds: float = 30.0
    log_salt: str = ""

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        lang = env.get("DEFAULT_LANGUAGE", cls.default_language)
        if lang not in LANGUAGES:
            raise ValueError(f"DEFAULT_LANGUAGE must be one of {', '.join(LANGUAGES)}")
        return cls(
            rasa_url=env.get("RASA_URL", f"http://127.0.0.1:{env.get('RASA_PORT', '5005')}"),
            webchat_host=env.get("WEBCHAT_HOST", cls.webchat_host),
            webchat_port=int(env.get("WEBCHAT_PORT", cls.webchat_port)),
            default_language=lang,
            max_message_chars=int(env.get("MAX_MESSAGE_CHARS", cls.max_message_chars)),
            rasa_timeout_seconds=float(env.get("RASA_TIMEOUT_SECONDS", cls.rasa_timeout_seconds)),
            log_salt=env.get("LOG_SALT", ""),
        )
