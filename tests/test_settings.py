from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from engage.settings import SettingsError, load_settings, resolve_secret_key, with_secret_key


def _load(tmp_path: Path, toml: str = "", env: dict[str, str] | None = None):
    path = tmp_path / "settings.toml"
    path.write_text(toml)
    return load_settings(path, environ=env or {})


def test_defaults_are_the_embedded_default(tmp_path):
    settings = _load(tmp_path)
    assert settings.is_embedded
    assert settings.database.url == "sqlite://var/engage.sqlite3"
    assert settings.smtp.host == "embedded"
    assert settings.app.base_url == "http://127.0.0.1:8000"
    assert settings.programme.funding_types == ("IMET", "FMS", "other")


def test_the_shipped_settings_file_is_valid_and_matches_the_defaults():
    shipped = load_settings(Path(__file__).parent.parent / "settings.toml", environ={})
    assert shipped == load_settings(environ={}, read_file=False)


def test_settings_are_frozen(tmp_path):
    settings = _load(tmp_path)
    with pytest.raises(Exception, match="frozen"):
        settings.smtp.port = 25  # type: ignore[misc]


def test_environment_overrides_the_file(tmp_path):
    settings = _load(
        tmp_path,
        '[smtp]\nport = 2000\n[programme]\nfunding_types = ["A"]\n',
        {
            "ENGAGE_SMTP__PORT": "2525",
            "ENGAGE_DATABASE__URL": "postgres://u:p@db.example.org:5433/engage",
            "ENGAGE_APP__SECRET_KEY": "x" * 40,
            "ENGAGE_PROGRAMME__FUNDING_TYPES": "IMET, FMS, national",
            "UNRELATED": "1",
            "ENGAGE_TEST_POSTGRES_URL": "ignored: no double underscore",
        },
    )
    assert settings.smtp.port == 2525
    assert settings.database.url.startswith("postgres://")
    assert not settings.is_embedded
    assert settings.programme.funding_types == ("IMET", "FMS", "national")


def test_environment_list_as_toml_array(tmp_path):
    settings = _load(tmp_path, env={"ENGAGE_PROGRAMME__FUNDING_TYPES": '["X", "Y"]'})
    assert settings.programme.funding_types == ("X", "Y")


@pytest.mark.parametrize(
    ("toml", "env", "expected"),
    [
        ("[smtp]\nprot = 25\n", {}, "smtp.prot: unknown setting"),
        ("[smpt]\nport = 25\n", {}, "smpt: unknown setting"),
        ("[smtp]\nport = 'abc'\n", {}, "smtp.port: "),
        ("", {"ENGAGE_SMTP__PORT": "abc"}, "smtp.port: "),
        ("", {"ENGAGE_SMTP__PROT": "1"}, "ENGAGE_SMTP__PROT: unknown setting smtp.prot"),
        ("", {"ENGAGE_NOPE__X": "1"}, "ENGAGE_NOPE__X: unknown settings section"),
        ("[app]\nbase_url = 'ftp://x'\n", {}, "app.base_url: not an http(s) URL"),
        ("[database]\nurl = 'mysql://x/y'\n", {}, "database.url: unsupported database URL"),
        ("[database]\nurl = 'postgres:///'\n", {}, "database.url: postgres URL needs a host"),
        ("[app]\ndefault_timezone = 'Mars/Olympus'\n", {}, "app.default_timezone: unknown IANA"),
        ("[smtp]\nsecurity = 'ssl'\n", {}, "smtp.security: "),
        ("[programme]\nfunding_types = []\n", {}, "programme.funding_types: "),
        ("[database]\npool_min = 5\npool_max = 2\n", {}, "database.pool_min: must not exceed"),
        (
            "[database]\nurl = 'postgres://u@h/db'\n",
            {},
            "app.secret_key: required outside the embedded default",
        ),
        ("[smtp]\nhost = 'relay.example.org'\nport = 587\n", {}, "app.secret_key: required"),
        ("[app]\nsecret_key = 'short'\n", {}, "app.secret_key: must be at least 32"),
        ("[app\n", {}, "invalid TOML"),
    ],
)
def test_bad_settings_name_the_key(tmp_path, toml, env, expected):
    with pytest.raises(SettingsError) as caught:
        _load(tmp_path, toml, env)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message


def test_missing_config_file(tmp_path):
    with pytest.raises(SettingsError, match="config file not found"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_secret_key_is_generated_once_with_mode_0600(tmp_path):
    settings = _load(tmp_path, f"[app]\nvar_dir = '{tmp_path / 'var'}'\n")
    first = resolve_secret_key(settings)
    path = tmp_path / "var" / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32
    assert resolve_secret_key(settings) == first
    assert with_secret_key(settings).app.secret_key == first


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["serve", "--config", "{tmp}/bad.toml"], {}, "engage: smtp.port: "),
        (["migrate"], {"ENGAGE_APP__DEFAULT_TIMEZONE": "Nowhere/Land"}, "app.default_timezone"),
        (["serve", "--config", "{tmp}/missing.toml"], {}, "config file not found"),
    ],
)
def test_cli_stops_with_one_line_and_status_2(tmp_path, args, env, expected):
    (tmp_path / "bad.toml").write_text("[smtp]\nport = 'x'\n")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("ENGAGE_")}
    result = subprocess.run(
        [sys.executable, "-m", "engage", *args],
        cwd=tmp_path,
        env={**clean_env, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
