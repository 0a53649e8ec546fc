"""Does a turn cost more late in a long conversation? (issue 13)

One person's conversation is grown to about `turns` messages; then messages
around number 10 of fresh conversations and around number `turns` of the long
one are sent one after the other, the same text to both, so that both
medians are taken in the same minutes on a machine other jobs share.

    PYTHONPATH=. .venv/bin/python -m scripts.bench_growth [--turns 300]

starts its own Rasa + action server (models/, a throw-away tracker store) and
prints the median reply time at message 10 and at message `turns` and their
ratio (target: at most 1.3). `growth()` is what tests/test_growth.py calls.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from scripts.stack import ROOT, Stack, free_port

#: Not in the benchmark's conversation: an emergency or a request for a
#: person opens or adds to a case, which is not what this measures; asking for
#: another language would change the language tests/test_growth.py checks.
SKIPPED_TOPICS = {"emergency", "caseworker", "language"}


def conversation_texts() -> list[str]:
    """Typed questions in every language (the held-out NLU file), in a fixed order."""
    examples = yaml.safe_load((ROOT / "tests/nlu/heldout.yml").read_text("utf-8"))["examples"]
    return [e["text"] for e in examples if e["topic"] not in SKIPPED_TOPICS][::7]


@dataclass
class Growth:
    early_ms: list[float] = field(default_factory=list)  # messages around number 10
    late_ms: list[float] = field(default_factory=list)  # messages around number `turns`
    early_at: list[int] = field(default_factory=list)
    late_at: list[int] = field(default_factory=list)

    @property
    def early(self) -> float:
        return statistics.median(self.early_ms)

    @property
    def late(self) -> float:
        return statistics.median(self.late_ms)

    @property
    def ratio(self) -> float:
        return self.late / self.early

    def summary(self) -> str:
        return (f"median reply at message {statistics.median(self.early_at):.0f}: {self.early:.1f} ms "
                f"({len(self.early_ms)} replies); at message {statistics.median(self.late_at):.0f}: "
                f"{self.late:.1f} ms ({len(self.late_ms)}); ratio {self.ratio:.2f}")


Say = Callable[[str, str], object]


def rest_sender(rasa_url: str, client: httpx.Client) -> Say:
    def say(sender: str, text: str) -> list[dict]:
        r = client.post(f"{rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=60)
        r.raise_for_status()
        return r.json()

    return say


def timed(say: Say, sender: str, text: str) -> float:
    t0 = time.perf_counter()
    say(sender, text)
    return (time.perf_counter() - t0) * 1000


def growth(say: Say, turns: int = 300, early: int = 10, window: int = 11, fresh: int = 3,
           long_sender: str | None = None, texts: list[str] | None = None) -> Growth:
    """Grow `long_sender`'s conversation, then time `fresh` x `window` pairs:
    message ~`early` of a fresh conversation and message ~`turns` of the long
    one, the same text to both. `long_sender` may already hold messages
    (`turns` counts them)."""
    texts = texts or conversation_texts()
    long_sender = long_sender or f"bench-long-{uuid.uuid4().hex}"
    first = early - window // 2  # first timed message of a fresh conversation
    pairs = window * fresh
    done = 0
    while done < turns - pairs // 2 - 1:  # the long conversation up to just before the timed window
        say(long_sender, texts[done % len(texts)])
        done += 1
    result = Growth()
    for f in range(fresh):
        sender = f"bench-fresh-{uuid.uuid4().hex}"
        for k in range(1, first):
            say(sender, texts[(f * 31 + k) % len(texts)])
        for k in range(first, first + window):
            text = texts[(f * 31 + k) % len(texts)]
            result.early_ms.append(timed(say, sender, text))
            result.early_at.append(k)
            done += 1
            result.late_ms.append(timed(say, long_sender, text))
            result.late_at.append(done)
    return result


def figures(rasa_url: str, turns: int = 300) -> dict[str, float]:
    """The growth figures for `make bench` (scripts/bench.py)."""
    with httpx.Client() as client:
        result = growth(rest_sender(rasa_url, client), turns=turns)
    return {"reply_ms_p50_message_10": round(result.early, 1), f"reply_ms_p50_message_{turns}": round(result.late, 1),
            "reply_growth_ratio": round(result.ratio, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--endpoints", default="endpoints.yml", help="Rasa endpoints file (to compare tracker stores)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="nabo-growth-") as tmp:
        stack = Stack(rasa_port=free_port(), action_port=free_port(), webchat_port=free_port(),
                      tracker_db=Path(tmp) / "tracker.db", log_dir=Path(tmp) / "log", with_webchat=False,
                      endpoints=args.endpoints, extra_env={"CASES_DB": str(Path(tmp) / "cases.db")})
        stack.start()
        try:
            with httpx.Client() as client:
                say = rest_sender(stack.rasa_url, client)
                for text in conversation_texts()[:10]:  # warm-up
                    say(f"bench-warm-{uuid.uuid4().hex}", text)
                print(growth(say, turns=args.turns).summary())
        finally:
            stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
