"""Settings of the action server, read once from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from nlu.langid import LANGUAGES

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    # Below this NLU confidence a typed message is not answered but clarified.
    confidence_threshold: float = 0.5
    # The language used when nothing is known about the person's language.
    default_language: str = "nb"
    # The municipality profile (data/municipalities/<id>.yml) answers use.
    municipality: str = "baerum"
    knowledge_file: Path = ROOT / "data" / "knowledge" / "answers.yml"
    checklist_file: Path = ROOT / "data" / "knowledge" / "checklist.yml"
    municipalities_dir: Path = ROOT / "data" / "municipalities"
    # Where cases for the caseworkers are stored, and when the office is open.
    cases_db: Path = ROOT / "var" / "cases.db"
    # "cases": open a case for the caseworker desk; "contact": only tell the
    # person whom to contact (a deployment without caseworkers on the desk).
    handoff: str = "cases"
    translation_packages_dir: Path = ROOT / "var" / "argos"
    # Told to the person at first contact (the notice in locales: privacy.notice).
    retention_days: int = 180
    privacy_url: str = "http://127.0.0.1:8080/privacy"
    office_hours: str = "mon-fri 08:00-15:30"
    timezone: str = "Europe/Oslo"
    locales_dir: Path = ROOT / "locales"

    @classmethod
    def from_env(cls) -> Settings:
        default_language = os.environ.get("DEFAULT_LANGUAGE", cls.default_language)
        if default_language not in LANGUAGES:
            raise ValueError(f"DEFAULT_LANGUAGE must be one of {', '.join(LANGUAGES)}")
        threshold = float(os.environ.get("NLU_CONFIDENCE_THRESHOLD", cls.confidence_threshold))
        if not 0.0 <= threshold <= 1.0:
            raise ValueError("NLU_CONFIDENCE_THRESHOLD must be between 0 and 1")
        municipality = os.environ.get("MUNICIPALITY", cls.municipality)
        if not (cls.municipalities_dir / f"{municipality}.yml").exists():
            raise ValueError(f"MUNICIPALITY {municipality!r} has no profile in {cls.municipalities_dir}")
        handoff = os.environ.get("HANDOFF", cls.handoff)
        if handoff not in ("contact", "cases"):
            raise ValueError("HANDOFF must be 'contact' or 'cases'")
        office_hours = os.environ.get("OFFICE_HOURS", cls.office_hours)
        timezone = os.environ.get("TIMEZONE", cls.timezone)
        from actions.office_hours import OfficeHours

        OfficeHours.parse(office_hours, timezone)  # refuse to start with a bad value
        return cls(confidence_threshold=threshold, default_language=default_language, municipality=municipality,
                   cases_db=Path(os.environ.get("CASES_DB", cls.cases_db)), office_hours=office_hours,
                   timezone=timezone, handoff=handoff,
                   translation_packages_dir=Path(os.environ.get("TRANSLATION_PACKAGES_DIR",
                                                                cls.translation_packages_dir)),
                   retention_days=int(os.environ.get("RETENTION_DAYS", cls.retention_days)),
                   privacy_url=os.environ.get("PRIVACY_URL", cls.privacy_url))

    @property
    def municipality_file(self) -> Path:
        return self.municipalities_dir / f"{self.municipality}.yml"


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings.from_env()
