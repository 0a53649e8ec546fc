"""`make bench`: prints training time, model size, server memory, parse and
reply latency (p50/p95) and throughput with 8 concurrent senders, on this
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
            parse = f"{stack.rasa_url}/model/parse"
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
            figures["rasa_server_rss_mb"] = round(rss_mb(stack.processes["rasa"].pid), 0)
            figures["action_server_rss_mb"] = round(rss_mb(stack.processes["actions"].pid), 0)
        finally:
            stack.stop()
    figures["cpu_count"] = os.cpu_count()
    out = ROOT / "var" / "bench.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(figures, indent=1), encoding="utf-8")
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
