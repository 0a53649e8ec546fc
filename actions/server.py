"""The action server: rasa-sdk's Sanic app with what operators need added.

- /healthz (alive), /readyz (knowledge loaded, case database writable),
  /metrics (Prometheus: answers, fallbacks, emergencies, cases);
- ACTION_SERVER_TOKEN: when set, /webhook and /actions need it (Rasa sends
  it as ?token=..., from `token:` in endpoints.yml), compared in constant
  time, so the server can listen on a private network in a multi-machine
  set-up; it listens on ACTION_HOST (127.0.0.1) by default.

Run with `python -m actions.server` (scripts/stack.py does).
"""

from __future__ import annotations

import hmac
import logging
import os

from rasa_sdk.endpoint import create_app
from sanic import Sanic, response
from sanic.request import Request

from ops import metrics
from ops.logs import configure_logging
from ops.secrets import owner_only, restrict

logger = logging.getLogger(__name__)
PROTECTED = ("/webhook", "/actions")


def create_action_app(token: str = "", metrics_token: str = "") -> Sanic:
    """`token`: what Rasa must send; `metrics_token` (METRICS_TOKEN): what
    /metrics and a writing /readyz need, as on the channel server."""
    app = create_app("actions", cors_origins=None)

    @app.middleware("request")
    async def check_token(request: Request):  # type: ignore[no-untyped-def]
        if token and request.path in PROTECTED:
            given = request.args.get("token", "")
            if not hmac.compare_digest(given.encode(), token.encode()):
                return response.json({"error": "forbidden"}, status=403)
        return None

    @app.get("/healthz")
    async def healthz(_: Request):  # type: ignore[no-untyped-def]
        return response.json({"status": "ok"})

    @app.get("/readyz")
    async def readyz(request: Request):  # type: ignore[no-untyped-def]
        from actions.handoff import CaseHandoff, handoff
        from actions.knowledge import knowledge

        checks = {}
        try:
            checks["knowledge"] = bool(knowledge().answers)
        except Exception:  # noqa: BLE001 - any failure means not ready
            checks["knowledge"] = False
        try:
            active = handoff()  # the case store the actions write to
            if isinstance(active, CaseHandoff):  # a write only for the operator (metrics token)
                active.store.check(metrics.authorized(request.headers.get("authorization", ""), metrics_token))
            checks["case_db"] = True
        except Exception:  # noqa: BLE001
            logger.warning("Readiness: the case database cannot be written")
            checks["case_db"] = False
        ok = all(checks.values())
        return response.json({k: "up" if v else "down" for k, v in checks.items()}, status=200 if ok else 503)

    @app.get("/metrics")
    async def metrics_endpoint(request: Request):  # type: ignore[no-untyped-def]
        if metrics_token and not metrics.authorized(request.headers.get("authorization", ""), metrics_token):
            return response.text("forbidden", status=403)
        body, content_type = metrics.exposition()
        return response.raw(body, content_type=content_type)

    return app


def main() -> None:
    owner_only()  # the case database and its -wal/-shm: the owner's only
    from actions.office_hours import OfficeHours
    from core.config import SettingsError, settings
    from scripts.stack import load_env_file

    load_env_file()
    try:
        config = settings()
        OfficeHours.parse(config.office_hours, config.timezone)
    except (SettingsError, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from None
    restrict(config.cases_db)  # a file an older version made readable
    configure_logging("actions")
    host, port = os.environ.get("ACTION_HOST", "127.0.0.1"), int(os.environ.get("ACTION_PORT", "5055"))
    from ops.rasa_serve import is_loopback

    if not is_loopback(host) and len(config.metrics_token) < 16:
        raise SystemExit(f"error: the action server on {host} (not loopback) needs METRICS_TOKEN (16+ characters): "
                         "its /metrics and deep /readyz must not be open")
    app = create_action_app(os.environ.get("ACTION_SERVER_TOKEN", ""), config.metrics_token)
    logger.info("Action server on %s:%d", host, port)
    app.run(host=host, port=port, workers=1, access_log=False)


if __name__ == "__main__":
    main()
