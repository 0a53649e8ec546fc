"""`make loadtest`: simulated people hold short conversations in the eight
languages through the SMS webhook and the Telegram webhook at once, on
loopback, against the real Rasa and action servers and the channel server
(a fake SMS gateway and a fake Telegram Bot API catch the replies).

Stages raise the number of people talking at the same time; each stage is a
fixed number of conversations, so the run is bounded and stops by itself.
Prints reply latency (webhook call -> reply at the fake) p50/p95/p99,
throughput and errors per stage, then proves that every message got its
reply exactly once and every escalation became exactly one case, and names
the highest load with p95 under one second. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from channels.app import TELEGRAM_SECRET_HEADER
from channels.sms.channel import sign
from channels.telegram import split_message
from nlu.langid import LANGUAGES  # noqa: E402
from scripts.stack import ROOT, Stack
from tests.fakes.servers import FakeGateway, FakeTelegram, LoopbackServer, free_port, message_update

QUESTION_TOPICS = ("fastlege", "nav", "school", "barnehage", "housing", "intro_program")
ESCALATE_EVERY = 3  # every third person ends by asking for a caseworker (the button's payload)
REPLY_TIMEOUT = 30.0


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1] if len(values) > 1 else values[0]


@dataclass
class Person:
    number: int
    language: str
    channel: str  # "sms" or "telegram"
    turns: list[str]
    escalates: bool

    @property
    def sender(self) -> str:
        return f"sms:+4792{self.number:06d}" if self.channel == "sms" else f"tg:{900000 + self.number}"


@dataclass
class Stage:
    concurrency: int
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0


class Catcher:
    """Watches the fakes and wakes whoever waits for a reply."""

    def __init__(self, gateway: FakeGateway, telegram: FakeTelegram) -> None:
        self.gateway, self.telegram = gateway, telegram
        self.sms: dict[str, float] = {}  # reference -> arrival time
        self.tg: dict[int, list[float]] = defaultdict(list)  # chat -> arrival times
        self._seen_sms = self._seen_tg = 0

    async def run(self) -> None:
        while True:
            now = time.perf_counter()
            received = self.gateway.received
            for item in received[self._seen_sms:len(received)]:
                self.sms.setdefault(item["reference"], now)
            self._seen_sms = len(received)
            calls = self.telegram.calls
            for method, body in calls[self._seen_tg:len(calls)]:
                if method == "sendMessage":
                    self.tg[int(body["chat_id"])].append(now)
            self._seen_tg = len(calls)
            await asyncio.sleep(0.003)


def texts_by_language() -> dict[str, dict[str, list[str]]]:
    examples = yaml.safe_load((ROOT / "tests/nlu/heldout.yml").read_text("utf-8"))["examples"]
    by: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for e in examples:
        by[e["lang"]][e["topic"]].append(e["text"])
    return by


def people(count: int, start: int, rng: random.Random, texts: dict[str, dict[str, list[str]]]) -> list[Person]:
    out = []
    for i in range(start, start + count):
        lang = LANGUAGES[i % len(LANGUAGES)]
        turns = [rng.choice(texts[lang][t]) for t in rng.sample(QUESTION_TOPICS, 3)]
        escalates = i % ESCALATE_EVERY == 0
        if escalates:
            turns.append("/caseworker")
        out.append(Person(i, lang, "sms" if i % 2 else "telegram", turns, escalates))
    return out


async def converse(person: Person, client: httpx.AsyncClient, url: str, catcher: Catcher, secrets_: dict[str, str],
                   ids: dict[str, list[str]], bot_db: Path, stage: Stage) -> None:
    for turn, text in enumerate(person.turns):
        t0 = time.perf_counter()
        try:
            if person.channel == "sms":
                message_id = f"lt-{person.number}-{turn}"
                raw = json.dumps({"id": message_id, "from": person.sender[4:], "text": text}, ensure_ascii=False).encode()
                ts = str(int(time.time()))
                r = await client.post(f"{url}/sms/json", content=raw, headers={
                    "content-type": "application/json", "X-Timestamp": ts,
                    "X-Signature": sign(secrets_["sms"], ts, raw)})
                r.raise_for_status()
                ids["sms"].append(message_id)
                while message_id not in catcher.sms:
                    if time.perf_counter() - t0 > REPLY_TIMEOUT:
                        raise TimeoutError
                    await asyncio.sleep(0.003)
                stage.latencies.append((catcher.sms[message_id] - t0) * 1000)
            else:
                chat = int(person.sender[3:])
                update_id = 10_000_000 + person.number * 10 + turn
                before = len(catcher.tg[chat])
                r = await client.post(f"{url}/telegram/webhook", json=message_update(update_id, chat, text),
                                      headers={TELEGRAM_SECRET_HEADER: secrets_["telegram"]})
                r.raise_for_status()
                ids["telegram"].append(str(update_id))
                while len(catcher.tg[chat]) == before:
                    if time.perf_counter() - t0 > REPLY_TIMEOUT:
                        raise TimeoutError
                    await asyncio.sleep(0.003)
                stage.latencies.append((catcher.tg[chat][before] - t0) * 1000)
                while inbound_status(bot_db, "telegram", str(update_id)) != "answered":  # the whole turn
                    if time.perf_counter() - t0 > REPLY_TIMEOUT:
                        raise TimeoutError
                    await asyncio.sleep(0.02)
        except (httpx.HTTPError, TimeoutError):
            stage.errors += 1


def inbound_status(db: Path, channel: str, external_id: str) -> str | None:
    with sqlite3.connect(db, timeout=10) as conn:
        row = conn.execute("select status from inbound where channel = ? and external_id = ?",
                           [channel, external_id]).fetchone()
    return row[0] if row else None


async def run_stage(stage: Stage, group: list[Person], url: str, catcher: Catcher, secrets_: dict[str, str],
                    ids: dict[str, list[str]], bot_db: Path) -> None:
    queue: asyncio.Queue[Person] = asyncio.Queue()
    for person in group:
        queue.put_nowait(person)

    async def slot(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            await converse(queue.get_nowait(), client, url, catcher, secrets_, ids, bot_db, stage)

    t0 = time.perf_counter()
    async with httpx.AsyncClient(timeout=REPLY_TIMEOUT) as client:
        await asyncio.gather(*(slot(client) for _ in range(stage.concurrency)))
    stage.seconds = time.perf_counter() - t0


def check_exactly_once(bot_db: Path, cases_db: Path, ids: dict[str, list[str]], catcher: Catcher,
                       telegram: FakeTelegram, everyone: list[Person]) -> dict[str, object]:
    """Every inbound message answered once; SMS: one send per message id;
    Telegram: as many sendMessage calls per chat as its stored replies make;
    every escalating person has exactly one case, the others none."""
    with sqlite3.connect(bot_db) as conn:
        inbound = conn.execute("select channel, external_id, sender, status, replies from inbound").fetchall()
    unanswered = [r for r in inbound if r[3] != "answered"]
    sms_refs = [item["reference"] for item in catcher.gateway.received]
    sms_ok = sorted(sms_refs) == sorted(ids["sms"])
    expected: dict[int, int] = defaultdict(int)
    for channel, _, sender, _, replies in inbound:
        if channel == "telegram" and replies:
            expected[int(sender[3:])] += sum(len(split_message(r["text"])) for r in json.loads(replies))
    sent: dict[int, int] = defaultdict(int)
    for body in telegram.sent():
        sent[int(body["chat_id"])] += 1
    telegram_ok = dict(sent) == dict(expected) and len([r for r in inbound if r[0] == "telegram"]) == len(ids["telegram"])
    with sqlite3.connect(cases_db) as conn:
        cases = conn.execute("select sender, count(*), group_concat(topic) from cases group by sender").fetchall()
    per_sender = {sender: n for sender, n, _ in cases}
    wanted = {p.sender for p in everyone if p.escalates}
    # A question the model reads as a request for a person or an emergency
    # opens a case too: counted, and still never more than one per person.
    others = sorted(topics for sender, _, topics in cases if sender not in wanted)
    cases_ok = all(per_sender.get(s) == 1 for s in wanted) and max(per_sender.values(), default=0) <= 1
    return {"messages_recorded": len(inbound), "unanswered": len(unanswered),
            "sms_one_reply_each": sms_ok, "sms_sends": len(sms_refs), "sms_messages": len(ids["sms"]),
            "telegram_replies_match": telegram_ok, "telegram_messages": len(ids["telegram"]),
            "escalations": len(wanted), "cases": sum(per_sender.values()), "one_case_per_escalation": cases_ok,
            "cases_from_questions": f"{len(others)} ({', '.join(others)})" if others else "0"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stages", default="2,4,6,8,12,16,24", help="people at once, per stage")
    parser.add_argument("--conversations", type=int, default=2, help="conversations per person slot and stage")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    stages = [Stage(int(c)) for c in args.stages.split(",")]
    rng, texts = random.Random(args.seed), texts_by_language()
    secrets_ = {"sms": secrets.token_urlsafe(24), "telegram": secrets.token_urlsafe(24)}
    gateway, telegram = FakeGateway(), FakeTelegram()
    with tempfile.TemporaryDirectory() as tmp_name, LoopbackServer(gateway.app) as gw, \
            LoopbackServer(telegram.app) as tg:
        tmp = Path(tmp_name)
        bot_db, cases_db = tmp / "bot.db", tmp / "cases.db"
        stack = Stack(rasa_port=free_port(), action_port=free_port(), webchat_port=free_port(),
                      tracker_db=tmp / "tracker.db", log_dir=tmp / "log", extra_env={
                          "BOT_DB": str(bot_db), "CASES_DB": str(cases_db), "SMS_GATEWAY": "json",
                          "SMS_JSON_URL": f"{gw.url}/messages", "SMS_JSON_SECRETS": secrets_["sms"],
                          "SMS_SENDER": "Nabo", "SMS_RATE_PER_MINUTE": "100000", "TELEGRAM_TOKEN": "1:load",
                          "TELEGRAM_API_URL": tg.url, "TELEGRAM_MODE": "webhook",
                          "TELEGRAM_WEBHOOK_SECRET": secrets_["telegram"], "LOG_LEVEL": "WARNING"})
        print("Starting Rasa, the action server and the channel server...", flush=True)
        stack.start(300)
        try:
            ids: dict[str, list[str]] = {"sms": [], "telegram": []}
            everyone: list[Person] = []

            async def all_stages() -> None:
                catcher = Catcher(gateway, telegram)
                watcher = asyncio.create_task(catcher.run())
                warmup = people(4, 0, rng, texts)  # first messages load lazily built parts; not counted
                everyone.extend(warmup)
                await run_stage(Stage(2), warmup, stack.webchat_url, catcher, secrets_, ids, bot_db)
                for stage in stages:
                    group = people(stage.concurrency * args.conversations, len(everyone), rng, texts)
                    everyone.extend(group)
                    await run_stage(stage, group, stack.webchat_url, catcher, secrets_, ids, bot_db)
                    print(f"  {stage.concurrency:>3} people at once: {len(stage.latencies):>4} replies, "
                          f"p95 {pct(stage.latencies, 95):.0f} ms, errors {stage.errors}", flush=True)
                await asyncio.sleep(2)  # late duplicates would arrive now
                watcher.cancel()
                checks.update(check_exactly_once(bot_db, cases_db, ids, catcher, telegram, everyone))

            checks: dict[str, object] = {}
            asyncio.run(all_stages())
        finally:
            stack.stop()
    print(f"\n{'people at once':>14} {'messages':>9} {'errors':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'msg/s':>6}")
    report = []
    for s in stages:
        row = {"concurrency": s.concurrency, "messages": len(s.latencies) + s.errors, "errors": s.errors,
               "p50_ms": round(statistics.median(s.latencies)), "p95_ms": round(pct(s.latencies, 95)),
               "p99_ms": round(pct(s.latencies, 99)), "messages_per_second": round(len(s.latencies) / s.seconds, 1)}
        report.append(row)
        print(f"{row['concurrency']:>14} {row['messages']:>9} {row['errors']:>7} {row['p50_ms']:>7} "
              f"{row['p95_ms']:>7} {row['p99_ms']:>7} {row['messages_per_second']:>6}")
    held = [r for r in report if r["p95_ms"] < 1000 and r["errors"] == 0]
    best = max(held, key=lambda r: r["concurrency"]) if held else None
    print("\nChecks:")
    for key, value in checks.items():
        print(f"  {key:<26} {value}")
    print(f"\nHighest load with p95 under 1 s: {best['concurrency']} people at once, "
          f"{best['messages_per_second']} messages/s" if best else "\nNo stage held p95 under 1 s")
    out = ROOT / "var" / "loadtest.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"stages": report, "checks": checks, "best": best}, indent=1), encoding="utf-8")
    ok = all(v for k, v in checks.items() if k in ("sms_one_reply_each", "telegram_replies_match",
                                                     "one_case_per_escalation")) and not checks.get("unanswered")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
