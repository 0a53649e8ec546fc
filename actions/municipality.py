"""The municipality the assistant serves: what differs between
municipalities (names, contacts, links, the barnehage deadline) comes from
one profile file, `data/municipalities/<id>.yml`, chosen with MUNICIPALITY."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from babel.dates import format_skeleton

#: Placeholders a profile fills in answers and texts; nothing else may be used.
PLACEHOLDERS = ("municipality", "refugee_service", "municipality_url", "barnehage_url", "barnehage_deadline",
                "intro_benefit_payer")
#: Placeholders whose wording depends on how the municipality is organised, so a
#: plain value cannot fill them: each is the locale text `profile.<name>.<settlement_in>`
#: (where the refugee service is a NAV team, "paid by the municipality, not by NAV"
#: would confuse). The knowledge base renders them with the profile's other values.
WORDED = ("intro_benefit_payer",)


@dataclass(frozen=True)
class Municipality:
    id: str
    name: str
    website: str
    refugee_service: str
    settlement_in: str
    deadline_day: int
    deadline_month: int
    email: str | None = None
    phone: str | None = None
    links: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Municipality:
        data: dict[str, Any] = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        service = data["refugee_service"]
        deadline = data["barnehage"]["deadline"]
        if data["settlement_in"] not in ("municipality", "nav"):
            raise ValueError(f"{path}: settlement_in must be 'municipality' or 'nav'")
        dt.date(2001, int(deadline["month"]), int(deadline["day"]))  # a real date, or ValueError
        return cls(
            id=data["id"], name=data["name"], website=data["website"], refugee_service=service["name"],
            settlement_in=data["settlement_in"], deadline_day=int(deadline["day"]),
            deadline_month=int(deadline["month"]), email=service.get("email"), phone=service.get("phone"),
            links={**(data.get("links") or {}), "barnehage_apply": data["barnehage"].get("apply_url")},
        )

    @property
    def barnehage_url(self) -> str:
        """Where to apply for a barnehage place: the profile's own link, else the front page."""
        return self.links.get("barnehage_apply") or self.website

    def placeholders(self, lang: str) -> dict[str, str]:
        """Values for `{municipality}` etc., dates written the reader's way
        (the `WORDED` placeholders come from the knowledge base)."""
        deadline = dt.date(2001, self.deadline_month, self.deadline_day)
        return {
            "municipality": self.name,
            "refugee_service": self.refugee_service,
            "municipality_url": self.website,
            "barnehage_url": self.barnehage_url,
            "barnehage_deadline": format_skeleton("MMMMd", deadline, locale=lang),
        }
