"""End to end: `engage demo`, then `engage serve` as a real process, and every main page.

These tests run the installed ``engage`` command the way a person following the
README would, in an empty folder (so no ``settings.toml`` is read), and talk to it
over real HTTP. The welcome emails of the demo travel through the worker and the
embedded SMTP server before they show up in ``/admin/mailbox``.

``EngageServer`` and ``run_engage`` are shared with ``tests/test_browser.py``.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_SECRET

#: The recipients of `engage demo` (engage/cli/demo.py), with names in several scripts.
DEMO_ADDRESSES = [
    "aigerim.nurlanovna@example.kz",
    "nguyen.van.minh@example.vn",
    "jose.garcia@example.co",
    "amani.wanjiru@example.ke",
    "illia.kovalenko@example.ua",
    "m.alotaibi@example.sa",
]
STARTUP_SECONDS = 60.0
MAIL_SECONDS = 60.0

_MESSAGE_LINK = re.compile(r'href="[^"]*?(/admin/mailbox/[^"/]+)"')
#: A mailbox row's link whose subject is the welcome email's.
_WELCOME_LINK = re.compile(r'href="[^"]*?(/admin/mailbox/[^"/]+)">Welcome to Engage<')


def engage_command() -> list[str]:
    """The ``engage`` console script of this interpreter's environment."""
    script = Path(sys.executable).with_name("engage")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from engage.cli.main import main; main()"]


def engage_env(**settings: str) -> dict[str, str]:
    """This process's environment without any ENGAGE_* setting, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENGAGE_")}
    env.update(settings)
    return env


def run_engage(
    *args: str, cwd: Path, env: Mapping[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*engage_command(), *args],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class EngageServer:
    """An `engage serve` process; ``url`` is where it listens."""

    process: subprocess.Popen[bytes]
    url: str
    log_path: Path
    var_dir: Path
    env: dict[str, str] = field(repr=False)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]

    def wait_until_healthy(self, timeout: float = STARTUP_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"engage serve exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        pytest.fail(f"engage serve did not answer /healthz within {timeout:.0f}s:\n{self.log()}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode


def start_server(
    workdir: Path, database_url: str, *extra_args: str, **settings: str
) -> EngageServer:
    """`engage demo`, then `engage serve` on a free port, waiting until it is healthy.

    Everything lives under ``workdir`` (the working directory, so no settings.toml
    is read); ``settings`` are extra ENGAGE_* variables.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    var_dir = workdir / "var"
    env = engage_env(
        ENGAGE_APP__VAR_DIR=str(var_dir),
        ENGAGE_APP__BASE_URL=f"http://127.0.0.1:{port}",
        ENGAGE_APP__LOG_FORMAT="text",
        ENGAGE_DATABASE__URL=database_url,
        ENGAGE_MAIL__POLL_SECONDS="0.2",
        **settings,
    )
    demo = run_engage("demo", cwd=workdir, env=env)
    assert demo.returncode == 0, demo.stderr
    assert "welcome email(s) queued" in demo.stdout
    log_path = workdir / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*engage_command(), "serve", "--port", str(port), *extra_args],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = EngageServer(
        process=process,
        url=f"http://127.0.0.1:{port}",
        log_path=log_path,
        var_dir=var_dir,
        env=env,
    )
    try:
        server.wait_until_healthy()
    except BaseException:
        server.stop()
        raise
    return server


def wait_for_mailbox(
    http: httpx.Client,
    *,
    count: int,
    timeout: float = MAIL_SECONDS,
    pattern: re.Pattern[str] | None = None,
) -> str:
    """The mailbox page once it lists at least ``count`` messages (matching ``pattern``)."""
    pattern = pattern or _MESSAGE_LINK
    deadline = time.monotonic() + timeout
    html = ""
    while time.monotonic() < deadline:
        response = http.get("/admin/mailbox")
        assert response.status_code == 200
        html = response.text
        if len(set(pattern.findall(html))) >= count:
            return html
        time.sleep(0.25)
    pytest.fail(f"the mailbox did not list {count} messages within {timeout:.0f}s:\n{html}")


# --- Fixtures -----------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EngageServer]:
    """The demo, served on SQLite (embedded default) or on PostgreSQL.

    On PostgreSQL the secret key is required and `engage serve` sends mail only
    with ``--worker``; the SMTP server stays the embedded one.
    """
    if request.param == "sqlite":
        server = start_server(tmp_path, f"sqlite://{tmp_path}/var/engage.sqlite3")
    else:
        url = request.getfixturevalue("postgres_url")
        server = start_server(
            tmp_path,
            url,
            "--worker",
            ENGAGE_APP__SECRET_KEY=TEST_SECRET,
            ENGAGE_SMTP__HOST="embedded",
        )
    yield server
    code = server.stop()
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it (exit -15).
    assert code in (0, -signal.SIGTERM), f"engage serve exited with {code}:\n{server.log()}"
    assert "Application shutdown complete" in server.log()


# --- Pages --------------------------------------------------------------------------


def _check_home(http: httpx.Client) -> None:
    response = http.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-request-id"]
    html = response.text
    assert '<html lang="en">' in html
    assert "<title>Welcome · Engage</title>" in html
    assert html.count("<h1") == 1
    assert '<a class="skip-link" href="#main">' in html
    assert '<main id="main"' in html
    assert "International Military Education and Training" in html
    css = http.get("/static/engage.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert ".skip-link:focus" in css.text


def _check_mailbox_and_message(http: httpx.Client) -> None:
    # The demo also sends invitations and event mail: the welcomes are among them.
    html = wait_for_mailbox(http, count=len(DEMO_ADDRESSES), pattern=_WELCOME_LINK)
    assert "<h1>Mailbox</h1>" in html
    for address in DEMO_ADDRESSES:
        assert address in html
    # Names in Cyrillic and Arabic script arrive intact through SMTP and the Maildir.
    assert "Ілля Коваленко" in html
    assert "محمد العتيبي" in html
    links = _WELCOME_LINK.findall(html)
    assert len(set(links)) == len(DEMO_ADDRESSES), "the demo queued each welcome once"

    page = http.get(links[0])
    assert page.status_code == 200
    assert "<h1>Welcome to Engage</h1>" in page.text
    assert "Message-ID" in page.text
    assert "Dear " in page.text  # the text part
    assert f'{links[0]}/html"' in page.text
    assert '<iframe class="mail-html"' in page.text

    part = http.get(f"{links[0]}/html")
    assert part.status_code == 200
    assert part.headers["content-type"].startswith("text/html")
    assert "sandbox" in part.headers["content-security-policy"]
    assert "Dear " in part.text
    assert str(http.base_url).rstrip("/") in part.text  # links use app.base_url

    missing = http.get("/admin/mailbox/no-such-message")
    assert missing.status_code == 404


def _check_api(http: httpx.Client) -> None:
    document = http.get("/openapi.json")
    assert document.status_code == 200
    spec = document.json()
    assert spec["openapi"].startswith("3.1")
    assert spec["info"]["title"] == "Engage API"
    assert "/api/v1/meta" in spec["paths"]
    assert "ErrorBody" in spec["components"]["schemas"]

    meta = http.get("/api/v1/meta")
    assert meta.status_code == 200
    body = meta.json()
    assert body["name"] == "Engage"
    assert body["api_version"] == "v1"
    assert body["funding_types"] == ["IMET", "FMS", "other"]

    missing = http.get("/api/v1/no-such-endpoint")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def _check_not_found_page(http: httpx.Client) -> None:
    response = http.get("/no-such-page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>Page not found</h1>" in response.text
    assert "Go to the home page" in response.text
    assert '<a class="skip-link" href="#main">' in response.text


def _check_health_after_sending(http: httpx.Client) -> None:
    # The demo's invitations and event mail may still be going out: wait for the queue.
    deadline = time.monotonic() + MAIL_SECONDS
    body = http.get("/healthz").json()
    while body["mail"]["due"] and time.monotonic() < deadline:
        time.sleep(0.25)
        body = http.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["mail"]["due"] == 0
    # The two invitations engage.cli.demo_mail marks as refused, for the mail page.
    assert body["mail"]["failed"] == 2


@pytest.mark.slow
def test_demo_is_served_page_by_page(served: EngageServer):
    # The mailbox is for admins: sign in as the demo admin (password and TOTP code).
    from tests.test_demo_roles import demo_logins, sign_in

    admin = next(login for login in demo_logins(served) if login.role == "admin")
    with httpx.Client(base_url=served.url, timeout=10) as http:
        _check_home(http)
        sign_in(http, admin)
        _check_mailbox_and_message(http)
        _check_api(http)
        _check_not_found_page(http)
        _check_health_after_sending(http)

    listing = run_engage(
        "mail",
        "list",
        "--status",
        "sent",
        "--limit",
        "1000",
        cwd=served.var_dir.parent,
        env=served.env,
    )
    assert listing.returncode == 0, listing.stderr
    for address in DEMO_ADDRESSES:
        assert address in listing.stdout


# --- Start-up refusals (the README promises them) -----------------------------------


@pytest.mark.slow
def test_a_bad_setting_stops_start_up_naming_it(tmp_path: Path):
    env = engage_env(ENGAGE_APP__VAR_DIR=str(tmp_path / "var"), ENGAGE_SERVER__PORT="eighty")
    result = run_engage("serve", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert result.stderr.startswith("engage: server.port: ")
    assert result.stderr.count("\n") == 1


@pytest.mark.slow
def test_postgres_without_a_secret_key_refuses_to_start(tmp_path: Path):
    env = engage_env(
        ENGAGE_APP__VAR_DIR=str(tmp_path / "var"),
        ENGAGE_DATABASE__URL="postgres://engage:engage@127.0.0.1:5432/engage",
    )
    result = run_engage("serve", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert result.stderr.startswith("engage: app.secret_key: required")
    assert result.stderr.count("\n") == 1
