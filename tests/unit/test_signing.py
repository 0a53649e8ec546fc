"""The channel server reaches Rasa only with signed requests (security review:
Rasa's open REST channel let anyone post in anyone's name), and the open
REST channel is refused outside loopback development."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from core.signing import (
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SecretError,
    Verifier,
    channel_secret,
    signed_headers,
)

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s" * 40
BODY = json.dumps({"sender": "sms:+4790000000", "message": "hei"}).encode()


def test_a_signed_request_passes_once() -> None:
    verifier = Verifier(SECRET)
    headers = signed_headers(SECRET, BODY)
    assert verifier.check(headers, BODY) is None
    assert verifier.check(headers, BODY) == "replayed"
    assert verifier.check(signed_headers(SECRET, BODY), BODY) is None  # a new nonce: a new request


def test_unsigned_wrong_changed_and_old_requests_are_refused() -> None:
    verifier = Verifier(SECRET)
    assert verifier.check({}, BODY) == "unsigned"
    assert verifier.check(signed_headers("x" * 40, BODY), BODY) == "bad signature"
    other = json.dumps({"sender": "sms:+4799999999", "message": "hei"}).encode()
    assert verifier.check(signed_headers(SECRET, BODY), other) == "bad signature"  # body swapped
    headers = signed_headers(SECRET, BODY)
    assert verifier.check({**headers, TIMESTAMP_HEADER: str(int(headers[TIMESTAMP_HEADER]) + 1)}, BODY) == \
        "bad signature"
    assert verifier.check(signed_headers(SECRET, BODY, now=1_000_000), BODY) == "too old"
    assert verifier.check({**headers, NONCE_HEADER: "n" * 20}, BODY) == "bad signature"
    assert verifier.check({**headers, SIGNATURE_HEADER: "0" * 64}, BODY) == "bad signature"


def test_a_replay_is_refused_until_too_old_to_matter() -> None:
    verifier = Verifier(SECRET, max_age=300)
    headers = signed_headers(SECRET, BODY, now=10_000)
    assert verifier.check(headers, BODY, now=10_000) is None
    assert verifier.check(headers, BODY, now=10_200) == "replayed"
    assert verifier.check(headers, BODY, now=10_301) == "too old"


def test_secret_from_the_environment_or_made_once_owner_only(tmp_path: Path) -> None:
    with pytest.raises(SecretError):
        channel_secret({"RASA_CHANNEL_SECRET": "short"})
    assert channel_secret({"RASA_CHANNEL_SECRET": SECRET}) == SECRET
    env = {"RASA_CHANNEL_SECRET_FILE": str(tmp_path / "var" / "rasa-channel-secret")}
    made = channel_secret(env)
    assert len(made) >= 32 and channel_secret(env) == made
    assert stat.S_IMODE((tmp_path / "var" / "rasa-channel-secret").stat().st_mode) == 0o600


async def test_the_client_signs_what_it_sends() -> None:
    from channels.assistant import WEBHOOK_PATH, AssistantClient

    verifier, seen = Verifier(SECRET), []

    def rasa(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, verifier.check(request.headers, request.content)))
        return httpx.Response(200, json=[{"text": "svar"}])

    client = AssistantClient("http://rasa.invalid", client=httpx.AsyncClient(transport=httpx.MockTransport(rasa)),
                             secret=SECRET)
    assert [r.text for r in await client.send("web:abcdefgh", "hei ☃", {"language_hint": "nb"})] == ["svar"]
    assert seen == [(WEBHOOK_PATH, None)]


def serve(args: list[str], **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("RASA_API_TOKEN", "NABO_ENV", "RASA_CHANNEL"))}
    return subprocess.run([sys.executable, "-m", "ops.rasa_serve", *args], cwd=ROOT,
                          env={**base, "RASA_API_TOKEN": "t" * 32, "RASA_API_TOKEN_SOURCE": "operator", **env},
                          capture_output=True, text=True, timeout=60)


def test_the_open_rest_channel_is_refused_in_production_and_off_loopback() -> None:
    result = serve(["-i", "127.0.0.1", "--credentials", "credentials.yml"], NABO_ENV="production")
    assert result.returncode != 0 and "REST channel is refused" in result.stderr
    result = serve(["-i", "10.0.0.5", "--credentials", "credentials.yml"])
    assert result.returncode != 0 and "REST channel is refused" in result.stderr
    result = serve(["-i", "10.0.0.5"])  # no credentials: Rasa would fall back to REST
    assert result.returncode != 0 and "REST channel is refused" in result.stderr
    result = serve(["-i", "10.0.0.5", "--credentials", "deploy/credentials.production.yml", "--connector", "rest"])
    assert result.returncode != 0 and "REST channel is refused" in result.stderr


def test_a_public_bind_needs_a_channel_secret_chosen_by_the_operator() -> None:
    production = ["--credentials", "deploy/credentials.production.yml"]
    result = serve(["-i", "10.0.0.5", *production])
    assert result.returncode != 0 and "RASA_CHANNEL_SECRET" in result.stderr
    result = serve(["-i", "10.0.0.5", *production], RASA_CHANNEL_SECRET=SECRET, RASA_CHANNEL_SECRET_SOURCE="generated")
    assert result.returncode != 0 and "RASA_CHANNEL_SECRET" in result.stderr


def test_rest_detection() -> None:
    from ops.rasa_serve import rest_enabled

    assert rest_enabled(["--credentials", "credentials.yml"], ROOT)
    assert not rest_enabled(["--credentials", "deploy/credentials.production.yml"], ROOT)
    assert rest_enabled(["--credentials=deploy/credentials.production.yml", "--connector", "rest"], ROOT)
    assert rest_enabled([], ROOT / "tests")  # no credentials file: Rasa's fallback is REST


def test_stack_picks_the_credentials_by_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from scripts.stack import Stack

    monkeypatch.delenv("NABO_ENV", raising=False)
    monkeypatch.delenv("RASA_HOST", raising=False)
    stack = Stack(tracker_db=tmp_path / "tracker.db", api_token="a" * 32, channel_secret=SECRET)
    assert stack.credentials == "credentials.yml" and stack.env()["RASA_CHANNEL_SECRET"] == SECRET
    monkeypatch.setenv("NABO_ENV", "production")
    assert stack.credentials == "deploy/credentials.production.yml"
    monkeypatch.delenv("NABO_ENV")
    monkeypatch.setenv("RASA_HOST", "10.0.0.5")
    assert stack.credentials == "deploy/credentials.production.yml"
