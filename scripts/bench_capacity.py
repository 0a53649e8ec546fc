"""Capacity through a channel (issue 13): people writing at once to the web
chat (`POST /api/messages`, which answers with the assistant's replies), so
every message goes the whole way: channel server, relay, a Rasa worker, the
action server, the tracker store and back.

`python -m scripts.bench_capacity [WORKERS ...]` starts a stack per worker
count on loopback, one after the other, and prints messages a second and
reply p50/p95 at 1, 8 and 32 concurrent people, memory and start time.
`make bench` prints the same figures beside its others."""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import yaml

from scripts.stack import ROOT, Stack

LEVELS = (1, 8, 32)
#: Each person writes a short conversation: a reply depends on what came before, as in real use.
MESSAGES_PER_PERSON = 6


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def bench_texts(limit: int = 400) -> list[str]:
    """Questions from the held-out file in all eight languages (never trained on)."""
    examples = yaml.safe_load((ROOT / "tests/nlu/heldout.yml").read_text("utf-8"))["examples"]
    return [e["text"] for e in examples[::2]][:limit]


@dataclass
class Level:
    people: int
    messages: int
    seconds: float
    p50_ms: float
    p95_ms: float
    errors: int

    @property
    def per_second(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


async def load(url: str, texts: list[str], people: int, rounds: int = MESSAGES_PER_PERSON) -> Level:
    """`people` write at once, each waiting for its reply before the next message."""
    latencies: list[float] = []
    errors = 0
    run = uuid.uuid4().hex[:8]

    async def person(client: httpx.AsyncClient, n: int) -> None:
        nonlocal errors
        sender = f"cap{run}{n}"
        for i in range(rounds):
            text = texts[(n * rounds + i) % len(texts)]
            t0 = time.perf_counter()
            try:
                r = await client.post(url, json={"sender": sender, "text": text, "id": f"{sender}-{i}"})
                if r.status_code != 200:  # 202: kept for later (Rasa did not answer in time)
                    errors += 1
                    continue  # (a 200 without messages is a message to an open case: handled)
                latencies.append((time.perf_counter() - t0) * 1000)
            except httpx.HTTPError:
                errors += 1

    limits = httpx.Limits(max_connections=people + 4, max_keepalive_connections=people + 4)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        start = time.perf_counter()
        await asyncio.gather(*(person(client, n) for n in range(people)))
        elapsed = time.perf_counter() - start
    return Level(people, len(latencies), elapsed, statistics.median(latencies) if latencies else 0.0,
                 pct(latencies, 95) if latencies else 0.0, errors)


def warm_up(stack: Stack, texts: list[str]) -> None:
    """Every worker's first turns (a worker's first message takes seconds):
    straight to each one, so the figures are the steady state."""
    for worker in range(stack.rasa_workers):
        for i, text in enumerate(texts[:6]):
            httpx.post(f"{stack.worker_url(worker)}/webhooks/rest/webhook", timeout=60,
                       json={"sender": f"warm{worker}-{i}", "message": text})


def rss_mb(processes: dict) -> float:
    total = 0
    for proc in processes.values():
        try:
            p = psutil.Process(proc.pid)
            total += sum(c.memory_info().rss for c in [p, *p.children(recursive=True)])
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


def measure(workers: int, model_dir: Path | None = None, texts: list[str] | None = None,
            levels: tuple[int, ...] = LEVELS) -> dict[str, float]:
    """One stack with `workers` Rasa workers, started here: its figures."""
    texts = texts or bench_texts()
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = 5400 + 20 * workers
        stack = Stack(rasa_port=base, rasa_workers=workers, action_port=base + 15, webchat_port=base + 16,
                      model_dir=model_dir or ROOT / "models", tracker_db=Path(tmp) / "tracker.db",
                      log_dir=Path(tmp) / "log",
                      extra_env={"BOT_DB": str(Path(tmp) / "bot.db"), "CASES_DB": str(Path(tmp) / "cases.db")})
        t0 = time.perf_counter()
        stack.start(all_workers=False)
        out["ready_seconds"] = round(time.perf_counter() - t0, 1)
        try:
            stack.wait_ready()
            out["all_workers_seconds"] = round(time.perf_counter() - t0, 1)
            url = f"{stack.webchat_url}/api/messages"
            warm_up(stack, texts)
            asyncio.run(load(url, texts, 4, rounds=5))
            for people in levels:
                level = asyncio.run(load(url, texts, people))
                out[f"msgs_per_s_{people}"] = round(level.per_second, 1)
                out[f"p50_ms_{people}"] = round(level.p50_ms)
                out[f"p95_ms_{people}"] = round(level.p95_ms)
                out[f"errors_{people}"] = level.errors
            out["rss_mb"] = round(rss_mb(stack.processes))
        finally:
            stack.stop()
    return out


def table(results: dict[int, dict[str, float]]) -> str:
    keys = sorted({k for r in results.values() for k in r}, key=_order)
    lines = [f"{'':<22}" + "".join(f"{f'{w} worker(s)':>14}" for w in results)]
    for key in keys:
        lines.append(f"{key:<22}" + "".join(f"{results[w].get(key, ''):>14}" for w in results))
    return "\n".join(lines)


def _order(key: str) -> tuple[int, str]:
    number = key.rsplit("_", 1)[-1]
    return (int(number) if number.isdigit() else 0, key)


def main(argv: list[str]) -> int:
    counts = [int(a) for a in argv] or [1, os.cpu_count() or 1]
    results = {w: measure(w) for w in counts}
    print(table(results))
    if len(counts) > 1:
        a, b = results[counts[0]], results[counts[-1]]
        print(f"throughput ratio at 8 people, {counts[-1]} against {counts[0]} worker(s): "
              f"{b['msgs_per_s_8'] / a['msgs_per_s_8']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
