"""End to end, per role: `engage demo` and `engage serve` as real processes, then each
demo account signs in through the real /login form (CSRF token read from the page,
TOTP code computed from the secret `engage demo` printed) and loads its pages.

Besides the pages checked by name, every HTML page the app declares (a GET route
without path parameters, of a signed-in class) is loaded by every role: 200 where
the role reaches it, 403 where it is above the role. New pages join the walk by
themselves.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyotp
import pytest
from starlette.routing import Route

from engage.accounts.actor import RANK
from engage.accounts.models import Role
from engage.web.routing import MIN_ROLE, Access
from tests.conftest import TEST_SECRET, make_settings, unavailable
from tests.test_demo_pages import (
    DEMO_ADDRESSES,
    EngageServer,
    run_engage,
    start_server,
    wait_for_mailbox,
)

pytestmark = pytest.mark.slow

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_LOGIN_ROW = re.compile(
    r"^  (admin|staff|attache|alumnus)\s+(\S+@\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*(.*)$"
)
#: Signed-in page classes whose pages the walk loads for every role.
_WALKED = (Access.ALUMNUS, Access.ATTACHE, Access.STAFF, Access.ADMIN)


@dataclass(frozen=True)
class Login:
    role: Role
    email: str
    password: str
    embassy: str
    totp_secret: str
    name: str


def demo_logins(server: EngageServer) -> list[Login]:
    """The accounts as `engage demo` prints them (run again: it is idempotent)."""
    result = run_engage("demo", cwd=server.var_dir.parent, env=server.env)
    assert result.returncode == 0, result.stderr
    assert "Demo accounts: 0 added, 0 embassies added." in result.stdout
    logins = [
        Login(
            role=Role(m.group(1)),
            email=m.group(2),
            password=m.group(3),
            embassy="" if m.group(4) == "-" else m.group(4),
            totp_secret="" if m.group(5) == "-" else m.group(5),
            name=m.group(6),
        )
        for line in result.stdout.splitlines()
        if (m := _LOGIN_ROW.match(line))
    ]
    assert {login.role for login in logins} == set(Role), result.stdout
    return logins


def csrf_of(response: httpx.Response) -> str:
    match = _CSRF.search(response.text)
    assert match, f"{response.url}: no form with a CSRF token"
    return match.group(1)


def sign_in(http: httpx.Client, login: Login) -> None:
    """Through the pages a person uses: /login, then the second factor if asked."""
    page = http.get("/login")
    assert page.status_code == 200
    response = http.post(
        "/login",
        data={
            "csrf_token": csrf_of(page),
            "email": login.email,
            "password": login.password,
            "next": "/account",
        },
    )
    assert response.status_code == 303, f"{login.email}: {response.status_code}"
    location = response.headers["location"]
    if not login.totp_secret:
        assert location == "/account", login.email
        return
    assert location.startswith("/login/second-factor"), (login.email, location)
    assert http.get("/account").headers.get("location") == "/login/second-factor"
    form = http.get(location)
    assert form.status_code == 200
    assert "authenticator app" in form.text
    done = http.post(
        "/login/second-factor",
        data={
            "csrf_token": csrf_of(form),
            "code": pyotp.TOTP(login.totp_secret).now(),
            "next": "/account",
        },
    )
    assert done.status_code == 303, f"{login.email}: {done.status_code}\n{done.text[-2000:]}"
    assert done.headers["location"] == "/account"


def sign_out(http: httpx.Client) -> None:
    account = http.get("/account")
    response = http.post("/logout", data={"csrf_token": csrf_of(account)})
    assert response.status_code == 303
    assert http.get("/account").status_code == 303


def walked_pages(tmp_path: Path) -> dict[str, Access]:
    """Every GET page of a signed-in class without path parameters, as the app declares it."""
    from engage.app import create_app

    settings = make_settings(f"sqlite://{tmp_path}/walk.sqlite3", tmp_path / "walk-var")
    app = create_app(settings, run_worker=False)
    pages = {}
    for route in app.routes:
        if not isinstance(route, Route) or "GET" not in (route.methods or ()):
            continue
        access = getattr(route.endpoint, "__access__", None)
        if access in _WALKED and "{" not in route.path:
            pages[route.path] = access
    assert "/account" in pages and "/admin/mailbox" in pages
    return pages


def check_account_pages(http: httpx.Client, login: Login) -> None:
    account = http.get("/account")
    assert account.status_code == 200
    assert account.headers["cache-control"] == "no-store"
    assert login.email in account.text
    assert '<form method="post" action="/logout"' in account.text

    manage = http.get("/account/two-factor")
    assert manage.status_code == 200
    assert "<h1>Two-factor authentication</h1>" in manage.text
    setup = http.get("/account/two-factor/setup")
    if login.totp_secret:
        assert "On since" in manage.text
        assert "Create new recovery codes" in manage.text
        # Already enrolled: the setup page sends them to the manage page.
        assert setup.status_code == 303
        assert setup.headers["location"] == "/account/two-factor"
    else:
        assert "Two-factor authentication is off." in manage.text
        assert setup.status_code == 200
        assert '<img src="data:image/svg+xml;' in setup.text
        assert 'id="totp-key"' in setup.text
    if login.role is Role.ALUMNUS:
        if login.totp_secret:
            assert "Turn off two-factor authentication" in manage.text
    else:
        assert "cannot be turned off" in manage.text

    # A second factor already passed: its page moves on.
    again = http.get("/login/second-factor?next=/account")
    assert again.status_code == 303
    assert again.headers["location"] == "/account"


def check_role_pages(
    http: httpx.Client, login: Login, logins: list[Login], pages: dict[str, Access]
) -> None:
    if login.role is Role.ADMIN:
        mailbox = wait_for_mailbox(http, count=len(DEMO_ADDRESSES))
        assert "<h1>Mailbox</h1>" in mailbox
        assert "Ілля Коваленко" in mailbox
        assert "محمد العتيبي" in mailbox
    else:
        assert http.get("/admin/mailbox").status_code == 403
    if "/admin/embassies" not in pages:
        return
    embassies = http.get("/admin/embassies")
    if login.role is Role.ATTACHE:
        # Their own embassy, never another one (404: its existence is not revealed).
        assert embassies.status_code == 200
        assert login.embassy in embassies.text
        mine = http.get(f"/admin/embassies/{login.embassy}")
        assert mine.status_code == 200
        assert login.embassy in mine.text
        for other in {o.embassy for o in logins if o.embassy and o.embassy != login.embassy}:
            assert other not in embassies.text
            assert http.get(f"/admin/embassies/{other}").status_code == 404
    elif login.role in (Role.STAFF, Role.ADMIN):
        assert embassies.status_code == 200
        assert "NBO" in embassies.text and "BOG" in embassies.text
        assert http.get("/admin/embassies/NBO").status_code == 200


def check_walk(http: httpx.Client, login: Login, pages: dict[str, Access]) -> list[str]:
    problems = []
    for path, access in sorted(pages.items()):
        minimum = MIN_ROLE[access]
        assert minimum is not None
        expected = 200 if RANK[login.role] >= RANK[minimum] else 403
        response = http.get(path)
        if response.status_code != expected:
            problems.append(f"{login.role} {path}: {response.status_code}, expected {expected}")
        elif expected == 200:
            if response.headers.get("cache-control") != "no-store":
                problems.append(f"{login.role} {path}: not no-store")
            html = response.headers.get("content-type", "").startswith("text/html")
            if html and response.text.count("<h1") != 1:  # CSV downloads have none
                problems.append(f"{login.role} {path}: not exactly one <h1>")
    return problems


_EVENT_LINK = re.compile(r'href="(?:https?://[^/"]+)?(/events/\d+)"')


def check_event_pages(http: httpx.Client, login: Login) -> list[str]:
    """Each event the role's list shows opens (attachés and staff: /events, upcoming
    and past; alumni: /my/events), with one <h1>, and so does its calendar file."""
    lists = ["/my/events"] if login.role is Role.ALUMNUS else ["/events", "/events?when=past"]
    problems = []
    for listing in lists:
        for path in sorted(set(_EVENT_LINK.findall(http.get(listing).text))):
            page = http.get(path)
            if page.status_code != 200 or page.text.count("<h1") != 1:
                problems.append(f"{login.role} {path}: {page.status_code}")
            ics = http.get(f"{path}.ics")
            if ics.status_code != 200 or not ics.content.startswith(b"BEGIN:VCALENDAR"):
                problems.append(f"{login.role} {path}.ics: {ics.status_code}")
            if login.role is not Role.ALUMNUS:
                # The invitation pages of the event: the audience form and the CSV.
                invite = http.get(f"{path}/invite")
                if invite.status_code != 200 or invite.text.count("<h1") != 1:
                    problems.append(f"{login.role} {path}/invite: {invite.status_code}")
                csv = http.get(f"{path}/invitations.csv")
                if csv.status_code != 200 or not csv.content.startswith(
                    b"\xef\xbb\xbfinvitation_id"
                ):
                    problems.append(f"{login.role} {path}/invitations.csv: {csv.status_code}")
    return problems


@pytest.fixture(params=["sqlite", "postgres"])
def demo_server(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "sqlite":
        server = start_server(tmp_path / "site", f"sqlite://{tmp_path}/site/var/engage.sqlite3")
    else:
        server = start_server(
            tmp_path / "site",
            request.getfixturevalue("postgres_url"),
            "--worker",
            ENGAGE_APP__SECRET_KEY=TEST_SECRET,
            ENGAGE_SMTP__HOST="embedded",
        )
    yield server
    server.stop()


def test_each_demo_role_signs_in_and_sees_its_pages(demo_server: EngageServer, tmp_path: Path):
    logins = demo_logins(demo_server)
    pages = walked_pages(tmp_path)
    problems: list[str] = []
    for login in logins:
        with httpx.Client(base_url=demo_server.url, timeout=15) as http:
            sign_in(http, login)
            check_account_pages(http, login)
            check_role_pages(http, login, logins, pages)
            problems += check_walk(http, login, pages)
            problems += check_event_pages(http, login)
            sign_out(http)
    assert problems == [], "\n".join(problems)


@pytest.mark.browser
def test_an_alumnus_turns_on_two_factor_in_chromium(tmp_path: Path):
    """The whole enrolment in a real browser, under the real Content-Security-Policy:
    the QR code shows, the typed code turns it on, the next sign-in asks for a code."""
    from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, CSP_RECORDER

    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[test]')")
    server = start_server(tmp_path / "site", f"sqlite://{tmp_path}/site/var/engage.sqlite3")
    alumnus = next(
        login
        for login in demo_logins(server)
        if login.role is Role.ALUMNUS and not login.totp_secret
    )
    problems: list[str] = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            context = browser.new_context(locale="en-GB")
            context.add_init_script(CSP_RECORDER)
            page = context.new_page()
            page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))

            def csp_violations() -> None:
                problems.extend(page.evaluate("window.__cspViolations || []"))

            page.goto(server.url + "/login")
            page.get_by_label("Email address").fill(alumnus.email)
            page.get_by_label("Password").fill(alumnus.password)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("**/account")
            page.goto(server.url + "/account/two-factor")
            page.get_by_role("link", name="Set up two-factor authentication").click()
            page.wait_for_url("**/account/two-factor/setup")
            qr = page.get_by_role("img", name=re.compile("QR code"))
            assert qr.evaluate("img => img.complete && img.naturalWidth > 100")
            secret = page.locator("#totp-key").inner_text().replace(" ", "")
            csp_violations()
            page.get_by_label("Enter the 6-digit code the app shows").fill(pyotp.TOTP(secret).now())
            page.get_by_role("button", name="Turn on two-factor authentication").click()
            page.wait_for_load_state("load")
            assert page.locator("h1").inner_text() == "Your recovery codes"
            assert page.locator("ol.recovery-codes li").count() == 10
            csp_violations()
            page.get_by_role("link", name="I have saved my recovery codes").click()
            page.wait_for_url("**/account")

            page.get_by_role("button", name="Sign out", exact=True).click()
            page.wait_for_url(server.url + "/")
            page.goto(server.url + "/login")
            page.get_by_label("Email address").fill(alumnus.email)
            page.get_by_label("Password").fill(alumnus.password)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("**/login/second-factor**")
            csp_violations()
            # The code just used for enrolment is spent: the next one is accepted.
            page.get_by_label("Code").fill(pyotp.TOTP(secret).at(time.time() + 30))
            page.get_by_role("button", name="Continue").click()
            page.wait_for_url("**/account")
            csp_violations()
            browser.close()
    finally:
        server.stop()
    assert problems == []
