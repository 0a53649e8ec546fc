"""Rasa's HTTP API is never open (security review, high): without the token
nothing can read a conversation, parse, or load a model; the token is not on
any command line; a non-loopback bind needs a token the operator chose."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ops.rasa_serve import is_loopback, rasa_argv

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.stack
def test_api_refuses_calls_without_the_token(stack) -> None:
    base = stack.rasa_url
    assert httpx.get(f"{base}/conversations/sms:+4790000000/tracker", timeout=10).status_code == 401
    assert httpx.post(f"{base}/model/parse", json={"text": "hei"}, timeout=10).status_code == 401
    assert httpx.put(f"{base}/model", json={"model_server": {"url": "http://127.0.0.1:9/x"}},
                     timeout=10).status_code == 401
    assert httpx.get(f"{base}/status?token=wrong-token-000000", timeout=10).status_code == 401
    assert httpx.post(stack.api("/model/parse"), json={"text": "hei"}, timeout=30).status_code == 200


@pytest.mark.stack
def test_the_token_is_not_on_any_command_line(stack) -> None:
    for proc in stack.processes.values():
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().decode(errors="replace")
        assert stack.api_token not in cmdline


def test_generated_token_file_is_for_the_owner_only(tmp_path: Path) -> None:
    from scripts.stack import Stack

    env = {k: v for k, v in os.environ.items() if k != "RASA_API_TOKEN"}
    code = ("from pathlib import Path; from scripts.stack import Stack; import sys;"
            f"s = Stack(tracker_db=Path({str(tmp_path)!r}) / 'tracker.db'); print(s.api_token)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    token_file = tmp_path / "rasa-api-token"
    assert token_file.read_text().strip() == out.stdout.strip() and len(out.stdout.strip()) >= 32
    assert oct(token_file.stat().st_mode & 0o777) == "0o600"
    assert Stack  # the module imports without side effects


def run_serve(args: list[str], **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("RASA_API_TOKEN")}
    return subprocess.run([sys.executable, "-m", "ops.rasa_serve", *args], cwd=ROOT, env={**base, **env},
                          capture_output=True, text=True, timeout=60)


def test_refuses_to_start_without_a_token() -> None:
    result = run_serve(["-i", "127.0.0.1"])
    assert result.returncode != 0 and "RASA_API_TOKEN" in result.stderr


def test_refuses_a_public_bind_with_a_generated_token() -> None:
    result = run_serve(["-i", "0.0.0.0"], RASA_API_TOKEN="x" * 32, RASA_API_TOKEN_SOURCE="generated")
    assert result.returncode != 0 and "not loopback" in result.stderr


def test_token_goes_to_rasa_inside_the_process_only() -> None:
    assert rasa_argv(["--enable-api"], "t" * 20) == ["rasa", "run", "--enable-api", "--auth-token", "t" * 20]
    with pytest.raises(SystemExit):
        rasa_argv(["--auth-token", "x"], "t" * 20)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.5")


@pytest.mark.stack
def test_the_signed_channel_refuses_unsigned_wrong_and_replayed_posts(stack) -> None:
    """Only the channel server, holding the secret, can post in a person's name."""
    from core.signing import signed_headers

    url = f"{stack.rasa_url}/webhooks/nabo/webhook"
    body = json.dumps({"sender": "sms:+4790000001", "message": "Hvordan får jeg fastlege?"}).encode()
    typed = {"content-type": "application/json"}
    assert httpx.post(url, content=body, headers=typed, timeout=10).status_code == 401
    wrong = signed_headers("w" * 40, body)
    assert httpx.post(url, content=body, headers={**typed, **wrong}, timeout=10).status_code == 401
    old = signed_headers(stack.channel_secret, body, now=time.time() - 600)
    assert httpx.post(url, content=body, headers={**typed, **old}, timeout=10).status_code == 401
    good = signed_headers(stack.channel_secret, body)
    first = httpx.post(url, content=body, headers={**typed, **good}, timeout=60)
    assert first.status_code == 200 and any(m.get("text") for m in first.json())
    assert httpx.post(url, content=body, headers={**typed, **good}, timeout=10).status_code == 401  # replayed
    # nothing of the refused posts reached the conversation: one user message only
    tracker = httpx.get(stack.api("/conversations/sms:+4790000001/tracker"), timeout=10).json()
    assert [e["event"] for e in tracker["events"]].count("user") == 1
    assert httpx.get(f"{stack.rasa_url}/conversations/sms:+4790000001/tracker", timeout=10).status_code == 401
