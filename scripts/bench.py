"""`make bench`: prints training time, model size, server memory, parse and
reply latency (p50/p95), throughput with 8 concurrent senders, the growth
ratio of a long conversation, the held-out understanding figures and, side
by side, one Rasa worker against one per core through the web chat (start
time, memory, messages a second and p95 at 1, 8 and 32 people), on this
machine, on loopback. Figures also go to var/bench.json."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psutil
import yaml

from scripts import bench_capacity, bench_growth, heldout
from scripts.stack import ROOT, VENV_BIN, Stack


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def train(out: Path) -> tuple[float, Path]:
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    start = time.perf_counter()
    subprocess.run([str(VENV_BIN / "rasa"), "train", "--force", "--out", str(out), "--quiet"], cwd=ROOT, env=env,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start, next(out.glob("*.tar.gz"))


def rss_mb(pid: int) -> float:
    proc = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 2**20


async def timed_posts(url: str, bodies: list[dict], concurrency: int) -> tuple[list[float], float, int]:
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[dict] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while not queue.empty():
            body = queue.get_nowait()
            t0 = time.perf_counter()
            try:
                (await client.post(url, json=body)).raise_for_status()
                latencies.append((time.perf_counter() - t0) * 1000)
            except httpx.HTTPError:
                errors += 1

    start = time.perf_counter()
    async with httpx.AsyncClient(timeout=60) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return latencies, time.perf_counter() - start, errors


def channel_figures(rasa_url: str, texts: list[str], tmp: Path) -> dict[str, object]:
    """What Telegram (webhook) and SMS (signed JSON webhook) add on top of the
    assistant, measured from the webhook call to the reply at a fake Bot API
    and a fake SMS gateway on loopback; and SMS throughput, 8 senders."""
    import json as jsonlib
    import threading

    from channels.app import TELEGRAM_SECRET_HEADER, create_server
    from channels.sms.channel import sign
    from core.config import Settings
    from tests.fakes.servers import FakeGateway, FakeTelegram, LoopbackServer, message_update

    secret, tg_secret = "bench-secret-0123456789abcdef", "bench-telegram-secret-0123"
    gateway, telegram = FakeGateway(), FakeTelegram()
    out: dict[str, object] = {}
    with LoopbackServer(gateway.app) as gw, LoopbackServer(telegram.app) as tg:
        settings = Settings(rasa_url=rasa_url, sms_gateway="json", sms_json_url=f"{gw.url}/messages",
                            sms_json_secrets=(secret,), sms_rate_per_minute=10_000, telegram_token="1:bench",
                            telegram_api_url=tg.url, telegram_mode="webhook", telegram_webhook_secret=tg_secret,
                            bot_db=str(tmp / "bot.db"), cases_db=str(tmp / "cases.db"))
        with LoopbackServer(create_server(settings)) as server:
            def sms(i: int, number: str) -> float:
                body = jsonlib.dumps({"id": f"b{i}", "from": number, "text": texts[i % len(texts)]}).encode()
                ts = str(int(time.time()))
                t0 = time.perf_counter()
                httpx.post(f"{server.url}/sms/json", content=body, timeout=30,
                           headers={"X-Timestamp": ts, "X-Signature": sign(secret, ts, body)})
                while not any(r.get("reference") == f"b{i}" for r in list(gateway.received)):
                    time.sleep(0.002)
                return (time.perf_counter() - t0) * 1000

            lat = [sms(i, f"+479000{i % 100:04d}") for i in range(100)]
            out.update(sms_reply_ms_p50=round(statistics.median(lat), 1), sms_reply_ms_p95=round(pct(lat, 95), 1))

            def tg_message(i: int) -> float:
                chat = 7000 + i
                t0 = time.perf_counter()
                httpx.post(f"{server.url}/telegram/webhook", json=message_update(10_000 + i, chat, texts[i]),
                           headers={TELEGRAM_SECRET_HEADER: tg_secret}, timeout=30)
                while not any(int(b.get("chat_id", 0)) == chat for b in telegram.sent()):
                    time.sleep(0.002)
                return (time.perf_counter() - t0) * 1000

            lat = [tg_message(i) for i in range(100)]
            out.update(telegram_reply_ms_p50=round(statistics.median(lat), 1),
                       telegram_reply_ms_p95=round(pct(lat, 95), 1))

            counter = iter(range(1000, 1200))
            lock = threading.Lock()

            def worker(sender: int) -> None:
                while True:
                    with lock:
                        i = next(counter, None)
                    if i is None:
                        return
                    sms(i, f"+4791{sender:06d}")

            t0 = time.perf_counter()
            threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            out["sms_messages_per_second_8_senders"] = round(200 / (time.perf_counter() - t0), 1)
    return out


def main() -> int:
    texts = [e["text"] for e in yaml.safe_load((ROOT / "tests/nlu/heldout.yml").read_text("utf-8"))["examples"]]
    texts = texts[::3][:300]
    figures: dict[str, object] = {"messages": len(texts)}
    with tempfile.TemporaryDirectory() as tmp:
        seconds, model = train(Path(tmp))
        figures["training_seconds"] = round(seconds, 1)
        figures["model_mb"] = round(model.stat().st_size / 2**20, 1)
        stack = Stack(rasa_port=5105, action_port=5155, webchat_port=8180, model_dir=Path(tmp),
                      tracker_db=Path(tmp) / "tracker.db", log_dir=Path(tmp) / "log", with_webchat=False)
        t0 = time.perf_counter()
        stack.start()
        figures["startup_seconds"] = round(time.perf_counter() - t0, 1)
        try:
            parse = stack.api("/model/parse")
            rest = f"{stack.rasa_url}/webhooks/rest/webhook"
            for text in texts[:20]:  # warm-up
                httpx.post(parse, json={"text": text}, timeout=30)
            lat, _, err = asyncio.run(timed_posts(parse, [{"text": t} for t in texts], 1))
            figures.update(parse_ms_p50=round(statistics.median(lat), 1), parse_ms_p95=round(pct(lat, 95), 1),
                           parse_errors=err)
            bodies = [{"sender": f"bench-{uuid.uuid4().hex}", "message": t} for t in texts]
            lat, _, err = asyncio.run(timed_posts(rest, bodies, 1))
            figures.update(reply_ms_p50=round(statistics.median(lat), 1), reply_ms_p95=round(pct(lat, 95), 1),
                           reply_errors=err)
            # 8 people at once, each holding conversations of 5 messages.
            bodies = [{"sender": f"bench-{i % 8}-{i // 40}", "message": t} for i, t in enumerate(texts * 2)]
            lat, elapsed, err = asyncio.run(timed_posts(rest, bodies, 8))
            figures.update(concurrent_messages_per_second=round(len(lat) / elapsed, 1),
                           concurrent_reply_ms_p95=round(pct(lat, 95), 1), concurrent_errors=err)
            # one long conversation: message 300 against message 10 (issue 13)
            figures.update(bench_growth.figures(stack.rasa_url))
            # each channel's overhead is its reply time minus reply_ms above
            figures.update(channel_figures(stack.rasa_url, texts, Path(tmp)))
            figures.update(heldout.figures(stack.rasa_url, stack.api_token, Path(tmp))[0])
            figures["rasa_server_rss_mb"] = round(rss_mb(stack.processes["rasa"].pid), 0)
            figures["action_server_rss_mb"] = round(rss_mb(stack.processes["actions"].pid), 0)
        finally:
            stack.stop()
        # issue 13: one worker against one per core, each stack alone on the machine
        counts = sorted({1, os.cpu_count() or 1})
        capacity = {w: bench_capacity.measure(w, Path(tmp)) for w in counts}
        for workers, result in capacity.items():
            figures.update({f"workers_{workers}_{k}": v for k, v in result.items()})
        if len(counts) > 1:
            figures["throughput_ratio_8_people"] = round(
                capacity[counts[-1]]["msgs_per_s_8"] / max(capacity[1]["msgs_per_s_8"], 0.1), 2)
    figures["cpu_count"] = os.cpu_count()
    out = ROOT / "var" / "bench.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(figures, indent=1), encoding="utf-8")
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        if not key.startswith("workers_"):
            print(f"{key:<{width}}  {value}")
    print("\nThrough the web chat, one Rasa worker against one per core:")
    print(bench_capacity.table(capacity))
    return 0


if __name__ == "__main__":
    sys.exit(main())
