"""The systemd units start what `make run` starts, restart it, and create
files for the owner only."""

from __future__ import annotations

import configparser
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UNITS = sorted((ROOT / "deploy" / "systemd").glob("*.service"))


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path)
    return parser


def test_three_services_each_restarted_and_owner_only() -> None:
    assert [u.name for u in UNITS] == ["nabo-actions.service", "nabo-channels.service", "nabo-rasa.service"]
    for path in UNITS:
        service = unit(path)["Service"]
        assert service["Restart"] == "always" and service["UMask"] == "0077", path.name
        assert service["EnvironmentFile"] == "/opt/nabo/.env" and "ReadWritePaths" in service


def test_each_unit_starts_a_module_that_exists() -> None:
    for path in UNITS:
        command = unit(path)["Service"]["ExecStart"].split()
        module = command[command.index("-m") + 1]
        assert importlib.util.find_spec(module) is not None, f"{path.name}: {module}"
        assert "RASA_API_TOKEN" not in " ".join(command)  # never on the command line


def test_deployed_units_run_in_production_with_the_signed_channel_only() -> None:
    """NABO_ENV=production: ops.rasa_serve refuses Rasa's open REST channel."""
    for path in UNITS:
        assert "NABO_ENV=production" in unit(path)["Service"]["Environment"].split(), path.name
    command = unit(ROOT / "deploy" / "systemd" / "nabo-rasa.service")["Service"]["ExecStart"].split()
    credentials = ROOT / command[command.index("--credentials") + 1]
    assert credentials.name == "credentials.production.yml"
    from ops.rasa_serve import rest_enabled

    assert not rest_enabled(command[command.index("--credentials"):], ROOT)
