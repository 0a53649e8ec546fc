"""The configuration of every process (channel server, action server, Rasa's
helpers, commands): one frozen object built once from the environment
(`settings()`), relative paths resolved against the checkout once, so both
servers open the same files from any folder. Public webhooks refuse to start
without their secrets; a bad value stops start-up with a message naming it.
Every variable read here is in the README's settings table and
`.env.example` (tests/unit/test_config.py checks it)."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from nlu.langid import LANGUAGES

ROOT = Path(__file__).resolve().parent.parent  # the checkout: every relative path is resolved here


def _loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SettingsError(ValueError):
    """A setting is missing or wrong; the message says which."""


@dataclass(frozen=True)
class Settings:
    rasa_url: str = "http://127.0.0.1:5005"
    #: Every Rasa worker the channel server spreads people across (RASA_URLS); empty: only rasa_url.
    rasa_urls: tuple[str, ...] = field(default_factory=tuple)
    tracker_db: str = "var/tracker.db"
    tracker_url: str = ""  # SQLAlchemy URL; empty: SQLite at tracker_db
    rasa_api_token: str = ""
    action_health_url: str = ""  # the action server's /healthz, checked by /readyz
    metrics_token: str = ""  # if set, GET /metrics needs "Authorization: Bearer <token>"
    bot_db: str = "var/bot.db"
    webchat_host: str = "127.0.0.1"
    webchat_port: int = 8080
    default_language: str = "nb"
    max_message_chars: int = 2000
    rasa_timeout_seconds: float = 30.0
    log_salt: str = ""
    retry_pending_seconds: float = 30.0
    stale_after_seconds: float = 60.0  # a message received this long ago and not answered is answered again
    # Telegram: off without a token; polling, or a webhook with a secret
    telegram_token: str = ""
    telegram_mode: str = "polling"
    telegram_webhook_secret: str = ""
    telegram_api_url: str = ""
    telegram_webhook_url: str = ""
    # SMS: "outbox" (webhook on, replies only recorded), "twilio", "json" or "none"
    sms_gateway: str = "outbox"
    sms_sender: str = ""
    sms_max_segments: int = 3
    sms_rate_per_minute: int = 10
    sms_send_timeout_seconds: float = 10.0  # a send that takes longer counts as failed and is retried
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_api_url: str = "https://api.twilio.com"
    sms_public_url: str = ""
    sms_json_url: str = ""
    sms_json_secrets: tuple[str, ...] = field(default_factory=tuple)
    # The caseworker desk (/desk) and notifications of new cases
    cases_db: str = "var/cases.db"
    desk_secret: str = ""
    desk_https_only: bool = False
    desk_url: str = "http://127.0.0.1:8080/desk"
    translation_packages_dir: str = "var/argos"
    caseworker_chat_id: str = ""
    notify_seconds: float = 10.0
    retention_days: int = 180
    # Where people reach the service: every link sent to them (privacy notice, desk) starts with it.
    public_url: str = "http://127.0.0.1:8080"
    privacy_url: str = ""  # empty: <public_url>/privacy
    # -- the action server -------------------------------------------------------------
    confidence_threshold: float = 0.5  # below it a typed message is clarified, not answered
    municipality: str = "baerum"  # the profile in data/municipalities/<id>.yml
    # "cases": open a case for the caseworker desk; "contact": only tell the
    # person whom to contact (a deployment without caseworkers on the desk).
    handoff: str = "cases"
    office_hours: str = "mon-fri 08:00-15:30"
    timezone: str = "Europe/Oslo"
    knowledge_file: Path = ROOT / "data" / "knowledge" / "answers.yml"
    checklist_file: Path = ROOT / "data" / "knowledge" / "checklist.yml"
    municipalities_dir: Path = ROOT / "data" / "municipalities"
    locales_dir: Path = ROOT / "locales"

    def __post_init__(self) -> None:
        """Relative paths are resolved once, against the checkout."""
        for name in ("tracker_db", "bot_db", "cases_db", "translation_packages_dir"):
            value = getattr(self, name)
            if value and not Path(value).is_absolute():
                object.__setattr__(self, name, str(ROOT / value))
        if not self.privacy_url:
            object.__setattr__(self, "privacy_url", self.public_url.rstrip("/") + "/privacy")

    @property
    def desk_cookie_secure(self) -> bool:
        """The desk's session cookie is Secure when people reach the server by HTTPS."""
        return self.desk_https_only or self.public_url.startswith("https://")

    @property
    def municipality_file(self) -> Path:
        return self.municipalities_dir / f"{self.municipality}.yml"

    @property
    def tracker_store_url(self) -> str:
        from channels.tracker import tracker_url  # SQLAlchemy is only needed where the tracker store is

        return self.tracker_url or tracker_url({"TRACKER_DB": self.tracker_db})

    @property
    def rasa_workers(self) -> tuple[str, ...]:
        """The Rasa servers a person's messages can go to: RASA_URLS, else RASA_URL."""
        return self.rasa_urls or (self.rasa_url,)

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        lang = env.get("DEFAULT_LANGUAGE", cls.default_language)
        if lang not in LANGUAGES:
            raise SettingsError(f"DEFAULT_LANGUAGE must be one of {', '.join(LANGUAGES)}")
        settings = cls(
            rasa_url=env.get("RASA_URL", f"http://127.0.0.1:{env.get('RASA_PORT', '5005')}"),
            tracker_db=env.get("TRACKER_DB", cls.tracker_db),
            rasa_urls=tuple(u.strip() for u in env.get("RASA_URLS", "").split(",") if u.strip()),
            tracker_url=_tracker_url(env),
            rasa_api_token=env.get("RASA_API_TOKEN", ""),
            action_health_url=_health_url(env.get("ACTION_SERVER_URL", "")),
            metrics_token=env.get("METRICS_TOKEN", ""),
            bot_db=env.get("BOT_DB", cls.bot_db),
            webchat_host=env.get("WEBCHAT_HOST", cls.webchat_host),
            webchat_port=int(env.get("WEBCHAT_PORT", cls.webchat_port)),
            default_language=lang,
            max_message_chars=int(env.get("MAX_MESSAGE_CHARS", cls.max_message_chars)),
            rasa_timeout_seconds=float(env.get("RASA_TIMEOUT_SECONDS", cls.rasa_timeout_seconds)),
            log_salt=env.get("LOG_SALT", ""),
            retry_pending_seconds=float(env.get("RETRY_PENDING_SECONDS", cls.retry_pending_seconds)),
            stale_after_seconds=float(env.get("STALE_AFTER_SECONDS", cls.stale_after_seconds)),
            telegram_token=env.get("TELEGRAM_TOKEN", ""),
            telegram_mode=env.get("TELEGRAM_MODE", cls.telegram_mode),
            telegram_webhook_secret=env.get("TELEGRAM_WEBHOOK_SECRET", ""),
            telegram_api_url=env.get("TELEGRAM_API_URL", ""),
            telegram_webhook_url=env.get("TELEGRAM_WEBHOOK_URL", ""),
            sms_gateway=env.get("SMS_GATEWAY", cls.sms_gateway),
            sms_sender=env.get("SMS_SENDER", ""),
            sms_max_segments=int(env.get("SMS_MAX_SEGMENTS", cls.sms_max_segments)),
            sms_rate_per_minute=int(env.get("SMS_RATE_PER_MINUTE", cls.sms_rate_per_minute)),
            sms_send_timeout_seconds=float(env.get("SMS_SEND_TIMEOUT_SECONDS", cls.sms_send_timeout_seconds)),
            twilio_account_sid=env.get("TWILIO_ACCOUNT_SID", ""),
            twilio_auth_token=env.get("TWILIO_AUTH_TOKEN", ""),
            twilio_api_url=env.get("TWILIO_API_URL", cls.twilio_api_url),
            sms_public_url=env.get("SMS_PUBLIC_URL", ""),
            sms_json_url=env.get("SMS_JSON_URL", ""),
            sms_json_secrets=tuple(s for s in env.get("SMS_JSON_SECRETS", "").split(",") if s),
            cases_db=env.get("CASES_DB", cls.cases_db),
            desk_secret=env.get("DESK_SECRET", ""),
            desk_https_only=env.get("DESK_HTTPS_ONLY", "false").lower() in ("1", "true", "yes"),
            desk_url=env.get("DESK_URL") or env.get("PUBLIC_URL", cls.public_url).rstrip("/") + "/desk",
            translation_packages_dir=env.get("TRANSLATION_PACKAGES_DIR", cls.translation_packages_dir),
            caseworker_chat_id=env.get("TELEGRAM_CASEWORKER_CHAT", ""),
            notify_seconds=float(env.get("NOTIFY_SECONDS", cls.notify_seconds)),
            retention_days=int(env.get("RETENTION_DAYS", cls.retention_days)),
            public_url=env.get("PUBLIC_URL", cls.public_url),
            privacy_url=env.get("PRIVACY_URL", ""),
            confidence_threshold=float(env.get("NLU_CONFIDENCE_THRESHOLD", cls.confidence_threshold)),
            municipality=env.get("MUNICIPALITY", cls.municipality),
            handoff=env.get("HANDOFF", cls.handoff),
            office_hours=env.get("OFFICE_HOURS", cls.office_hours),
            timezone=env.get("TIMEZONE", cls.timezone),
        )
        settings.check()
        return settings

    def check(self) -> None:
        if self.telegram_token and self.telegram_mode not in ("polling", "webhook"):
            raise SettingsError("TELEGRAM_MODE must be 'polling' or 'webhook'")
        if self.telegram_token and self.telegram_mode == "webhook" and len(self.telegram_webhook_secret) < 16:
            raise SettingsError("TELEGRAM_WEBHOOK_SECRET (16+ characters) is required in webhook mode")
        if self.sms_gateway not in ("none", "outbox", "twilio", "json"):
            raise SettingsError("SMS_GATEWAY must be 'outbox', 'twilio', 'json' or 'none'")
        if self.sms_gateway == "twilio" and not (self.twilio_account_sid and self.twilio_auth_token
                                                 and self.sms_public_url and self.sms_sender):
            raise SettingsError("SMS_GATEWAY=twilio needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, SMS_PUBLIC_URL "
                                "and SMS_SENDER")
        if self.sms_gateway == "json" and not (self.sms_json_url and self.sms_json_secrets
                                               and all(len(s) >= 16 for s in self.sms_json_secrets)):
            raise SettingsError("SMS_GATEWAY=json needs SMS_JSON_URL and SMS_JSON_SECRETS (16+ characters each)")
        if self.desk_secret and len(self.desk_secret) < 32:
            raise SettingsError("DESK_SECRET must be at least 32 characters")
        if not 1 <= self.sms_max_segments <= 10:
            raise SettingsError("SMS_MAX_SEGMENTS must be between 1 and 10")
        if not 0.0 <= self.confidence_threshold <= 1.0:
            raise SettingsError("NLU_CONFIDENCE_THRESHOLD must be between 0 and 1")
        if not self.municipality_file.exists():
            raise SettingsError(f"MUNICIPALITY {self.municipality!r} has no profile in {self.municipalities_dir}")
        if self.handoff not in ("contact", "cases"):
            raise SettingsError("HANDOFF must be 'contact' or 'cases'")
        if not self.public_url.startswith(("http://", "https://")):
            raise SettingsError("PUBLIC_URL must start with http:// or https://")
        reachable = not _loopback(self.webchat_host) or not _loopback(urlsplit(self.public_url).hostname or "")
        if reachable and len(self.metrics_token) < 16:
            raise SettingsError("METRICS_TOKEN (16+ characters) is required when the channel server is reachable "
                                "from other machines (WEBCHAT_HOST or PUBLIC_URL not loopback): /metrics and the "
                                "deep /readyz must not be open")


def _tracker_url(env: os._Environ[str] | dict[str, str]) -> str:
    """TRACKER_DB_URL or POSTGRES_*: the shared tracker store; empty: SQLite at TRACKER_DB."""
    if not (env.get("TRACKER_DB_URL") or env.get("POSTGRES_HOST")):
        return ""
    from channels.tracker import tracker_url

    return tracker_url(env)


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process's configuration, built once (tests clear it with settings.cache_clear())."""
    return Settings.from_env()


def _health_url(action_server_url: str) -> str:
    """http://host:5055/webhook -> http://host:5055/healthz"""
    return action_server_url.rsplit("/webhook", 1)[0] + "/healthz" if action_server_url else ""
