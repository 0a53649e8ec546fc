"""Starts `rasa run` with its HTTP API behind a token that never appears on
the command line (security review: an open API let anyone read every
conversation or load a "model" from anywhere; a token passed with
`--auth-token` is visible in `ps`).

    RASA_API_TOKEN=... python -m ops.rasa_serve [rasa run options]

The token comes from the environment only; without one, or with a
non-loopback `-i` and no token chosen by the operator, it refuses to start.

Rasa's open REST channel (anyone who reaches it posts in anyone's name) is
for local development and the evaluation scorers only: with a non-loopback
`-i` or `NABO_ENV=production` a credentials file that enables it (or none,
which makes Rasa fall back to it) is refused; production uses
`deploy/credentials.production.yml`, the signed channel alone.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from collections.abc import Mapping
from pathlib import Path

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
REST_NAMES = {"rest", "rasa.core.channels.rest.RestInput", "rasa.core.channels.RestInput"}


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def rasa_argv(args: list[str], token: str) -> list[str]:
    """The argument vector handed to Rasa's own CLI, inside this process."""
    if "--auth-token" in args or any(a.startswith("--auth-token=") for a in args):
        raise SystemExit("Give the token in RASA_API_TOKEN, not on the command line.")
    return ["rasa", "run", *args, "--auth-token", token]


def option(args: list[str], name: str, default: str | None = None) -> str | None:
    """The value of `name` in Rasa's arguments (`--name value` or `--name=value`)."""
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return default


def rest_enabled(args: list[str], root: Path | None = None) -> bool:
    """Would Rasa start its open REST channel with these arguments?"""
    import yaml

    if option(args, "--connector") in REST_NAMES:
        return True
    credentials = option(args, "--credentials", "credentials.yml")
    path = (root or Path.cwd()) / credentials if credentials else None
    if path is None or not path.is_file():
        return option(args, "--connector") is None  # no credentials: Rasa falls back to REST
    channels = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return bool(REST_NAMES & set(channels if isinstance(channels, dict) else ()))


def check_rest(args: list[str], host: str, env: Mapping[str, str]) -> None:
    """Refuse the open REST channel outside a loopback development setup."""
    if not rest_enabled(args):
        return
    if env.get("NABO_ENV", "").lower() == "production":
        raise SystemExit("NABO_ENV=production: Rasa's open REST channel is refused. Use "
                         "--credentials deploy/credentials.production.yml (the signed channel only).")
    if not is_loopback(host):
        raise SystemExit(f"Rasa on {host} (not loopback): its open REST channel is refused. Use "
                         "--credentials deploy/credentials.production.yml (the signed channel only).")


def validate_action_results_once_compiled() -> None:
    """Rasa 3.6 checks the action server's every answer with
    `jsonschema.validate`, which first validates the schema itself against
    its metaschema: a third of a turn's CPU in the profile (issue 13). The
    same check with a validator built once; errors read as Rasa's."""
    from jsonschema import validators
    from jsonschema.exceptions import best_match
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    schema = RemoteAction.action_response_format_spec()
    cls = validators.validator_for(schema)
    cls.check_schema(schema)
    validator = cls(schema)

    def validate(_self: RemoteAction, result: dict) -> bool:
        error = best_match(validator.iter_errors(result))
        if error is not None:
            error.message += (". Failed to validate Action server response from API, make sure your response "
                              f"from the Action endpoint is valid. For more information about the format visit "
                              f"{DOCS_BASE_URL}/custom-actions")
            raise error
        return True

    RemoteAction._validate_action_result = validate  # type: ignore[method-assign]


def main() -> None:
    from ops.secrets import owner_only, restrict

    owner_only()  # the tracker store, its -wal/-shm and Rasa's files: the owner's only
    restrict(os.environ.get("TRACKER_DB"))  # a file an older version made readable
    token = os.environ.get("RASA_API_TOKEN", "")
    if len(token) < 16:
        raise SystemExit("RASA_API_TOKEN (16+ characters) is required: Rasa's HTTP API is never open.")
    args = sys.argv[1:]
    host = args[args.index("-i") + 1] if "-i" in args else "0.0.0.0"  # noqa: S104 - Rasa's own default
    if not is_loopback(host) and os.environ.get("RASA_API_TOKEN_SOURCE") == "generated":
        raise SystemExit(f"Rasa on {host} (not loopback) needs a RASA_API_TOKEN chosen by the operator.")
    check_rest(args, host, os.environ)
    if not is_loopback(host) and (not os.environ.get("RASA_CHANNEL_SECRET")
                                  or os.environ.get("RASA_CHANNEL_SECRET_SOURCE") == "generated"):
        raise SystemExit(f"Rasa on {host} (not loopback) needs RASA_CHANNEL_SECRET chosen by the operator, "
                         "the same on every machine: the channel workers sign each message with it.")
    sys.argv = rasa_argv(args, token)
    validate_action_results_once_compiled()
    from rasa.__main__ import main as rasa_main

    rasa_main()


if __name__ == "__main__":
    main()
