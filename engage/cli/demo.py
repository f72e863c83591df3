"""``engage demo``: realistic sample data, growing with each feature.

Idempotent: running it twice adds nothing the second time (every row it makes has a
natural key: an email address, an embassy code, a dedupe key; the alumni of
``engage.cli.demo_alumni`` are made once, marked by an audit event).

The accounts have known passwords and, for the roles that require a second factor,
a fixed TOTP secret each (derived from the address, so every run prints the same):
demo data for trying the app, never for a site that faces the internet.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from engage.accounts.actor import load_actor
from engage.accounts.mfa import enrol_with_secret
from engage.accounts.models import Role, User
from engage.accounts.users import create_user, find_user
from engage.alumni.audience import AudienceFilter
from engage.alumni.models import Segment
from engage.alumni.rights import is_erased
from engage.alumni.segments import create_segment
from engage.cli.demo_alumni import TOTAL, ClaimedProfile, load_demo_alumni
from engage.cli.demo_engagement import seed_demo_engagement
from engage.cli.demo_events import seed_demo_events
from engage.cli.demo_invitations import seed_demo_invitations
from engage.cli.demo_mail import seed_demo_mail
from engage.cli.demo_newsletters import seed_demo_newsletters
from engage.clock import utcnow
from engage.mail import outbox
from engage.mail.models import Category
from engage.places.models import Embassy
from engage.places.seed import seed_countries
from engage.places.services import create_embassy
from engage.settings import Settings, with_secret_key

#: Every demo account signs in with this password.
DEMO_PASSWORD = "lantern-harbour-demo-58"  # noqa: S105 - printed on purpose, demo only

#: Graduates from several regions, in their own scripts: the mail pipeline must carry
#: their names intact. Each also gets an alumni account.
DEMO_PEOPLE = [
    ("Aigerim Nurlanovna", "aigerim.nurlanovna@example.kz"),
    ("Nguyễn Văn Minh", "nguyen.van.minh@example.vn"),
    ("José García Pérez", "jose.garcia@example.co"),
    ("Amani Wanjiru", "amani.wanjiru@example.ke"),
    ("Ілля Коваленко", "illia.kovalenko@example.ua"),
    ("محمد العتيبي", "m.alotaibi@example.sa"),
]
#: The one graduate who chose to turn on two-factor authentication (optional for alumni).
ALUMNUS_WITH_TOTP = "amani.wanjiru@example.ke"
#: Two people who registered themselves and wait for an attaché to confirm them.
DEMO_REGISTRANTS = [
    ("Wanjiku Kamau", "wanjiku.kamau@example.ke"),
    ("Camilo Rojas", "camilo.rojas@example.co"),
]
#: The alumni accounts' profiles (names as (script, Latin)); some still pending.
DEMO_CLAIMS = (
    ClaimedProfile(
        "aigerim.nurlanovna@example.kz",
        "KZ",
        ("Айгерим", "Aigerim"),
        ("Нурланқызы", "Nurlanovna"),
        pending=True,
    ),
    ClaimedProfile(
        "nguyen.van.minh@example.vn", "VN", ("Văn Minh", "Van Minh"), ("Nguyễn", "Nguyen")
    ),
    ClaimedProfile(
        "jose.garcia@example.co", "CO", ("José", "Jose"), ("García Pérez", "Garcia Perez")
    ),
    ClaimedProfile("amani.wanjiru@example.ke", "KE", ("Amani", ""), ("Wanjiru", "")),
    ClaimedProfile(
        "illia.kovalenko@example.ua", "UA", ("Ілля", "Illia"), ("Коваленко", "Kovalenko")
    ),
    ClaimedProfile("m.alotaibi@example.sa", "SA", ("محمد", "Mohammed"), ("العتيبي", "Al-Otaibi")),
    ClaimedProfile("wanjiku.kamau@example.ke", "KE", ("Wanjiku", ""), ("Kamau", ""), pending=True),
    ClaimedProfile("camilo.rojas@example.co", "CO", ("Camilo", ""), ("Rojas", ""), pending=True),
)


@dataclass(frozen=True)
class DemoEmbassy:
    code: str
    name: str
    country: str
    city: str
    timezone: str
    accredited: tuple[str, ...]


#: Two embassies eight hours apart (East Africa; South America).
DEMO_EMBASSIES = (
    DemoEmbassy("NBO", "Embassy in Nairobi", "KE", "Nairobi", "Africa/Nairobi", ("SO", "UG")),
    DemoEmbassy("BOG", "Embassy in Bogotá", "CO", "Bogotá", "America/Bogota", ("EC",)),
)


@dataclass(frozen=True)
class DemoAccount:
    email: str
    role: Role
    embassy: str = ""
    #: Whether the account is enrolled in TOTP with its demo secret.
    totp: bool = False
    #: Shown in the printed table (the account itself has no name field).
    name: str = ""

    @property
    def totp_secret(self) -> str:
        return demo_totp_secret(self.email) if self.totp else ""


DEMO_ACCOUNTS = (
    DemoAccount("admin@engage.example", Role.ADMIN, totp=True),
    DemoAccount("staff@engage.example", Role.STAFF, totp=True),
    DemoAccount("attache.nairobi@engage.example", Role.ATTACHE, embassy="NBO", totp=True),
    DemoAccount("attache.bogota@engage.example", Role.ATTACHE, embassy="BOG", totp=True),
    *(
        DemoAccount(address, Role.ALUMNUS, totp=address == ALUMNUS_WITH_TOTP, name=name)
        for name, address in DEMO_PEOPLE
    ),
    *(DemoAccount(address, Role.ALUMNUS, name=name) for name, address in DEMO_REGISTRANTS),
)


def demo_totp_secret(email: str) -> str:
    """The fixed base32 TOTP secret of a demo account (160 bits, from its address)."""
    digest = hashlib.sha256(f"engage-demo-totp\x00{email}".encode()).digest()[:20]
    return base64.b32encode(digest).decode()


async def load_demo(settings: Settings) -> list[str]:
    # The TOTP secrets are sealed with the app secret: the same one `engage serve`
    # will use (generated into var/ on the embedded default).
    settings = with_secret_key(settings)
    await seed_countries()
    # Attachés come last: their embassies are created by the demo admin.
    users_added = await _accounts(settings, attaches=False)
    embassies_added = await _embassies(settings)
    users_added += await _accounts(settings, attaches=True)
    emails = await _welcome_emails()
    admin = await find_user(DEMO_ACCOUNTS[0].email)
    assert admin is not None
    alumni = await load_demo_alumni(settings, claimed=DEMO_CLAIMS, admin=admin)
    await _segments()
    events = await seed_demo_events(settings)
    invitations = await seed_demo_invitations(settings)
    mail_rows = await seed_demo_mail(settings)
    newsletters = await seed_demo_newsletters(settings)
    history = await seed_demo_engagement(settings)
    return _summary(
        settings,
        emails=emails,
        users=users_added,
        embassies=embassies_added,
        alumni=alumni,
        events=events,
        invitations=invitations,
        mail_rows=mail_rows,
        newsletters=newsletters,
        history=history,
    )


#: Saved audiences to show the directory's segments: (owner email, name, filter).
DEMO_SEGMENTS = (
    ("staff@engage.example", "Senior officers (OF-5 and above)", {"grade_min": "OF-5"}),
    (
        "attache.nairobi@engage.example",
        "Kenyan graduates, classes of 2015 to 2024",
        {"country": ["KE"], "class_year_min": 2015, "class_year_max": 2024},
    ),
)


async def _segments() -> None:
    """A staff segment and an attaché's (idempotent: skipped when the name exists)."""
    for owner_email, name, filters in DEMO_SEGMENTS:
        owner = await find_user(owner_email)
        if owner is None or await Segment.exists(name=name):
            continue
        await create_segment(
            name, AudienceFilter.model_validate(filters), actor=await load_actor(owner)
        )


async def _accounts(settings: Settings, *, attaches: bool) -> int:
    added = 0
    for account in DEMO_ACCOUNTS:
        if (account.role is Role.ATTACHE) == attaches:
            added += await _account(account, settings)
    return added


async def _account(account: DemoAccount, settings: Settings) -> int:
    if await find_user(account.email) is not None or await is_erased(account.email, settings):
        return 0
    now = utcnow()
    user = await create_user(
        account.email,
        role=account.role,
        password=DEMO_PASSWORD,
        security=settings.security,
        embassy_codes=[account.embassy] if account.embassy else [],
        verified=True,
        now=now,
    )
    if account.embassy:
        embassy = await Embassy.get(code=account.embassy)
        await User.filter(id=user.id).update(timezone=embassy.timezone)
    if account.totp:
        await enrol_with_secret(user, account.totp_secret, settings=settings, now=now)
    return 1


async def _embassies(settings: Settings) -> int:
    admin = await find_user(DEMO_ACCOUNTS[0].email)
    assert admin is not None
    actor = await load_actor(admin)
    added = 0
    for embassy in DEMO_EMBASSIES:
        if await Embassy.exists(code=embassy.code):
            continue
        await create_embassy(
            {
                "code": embassy.code,
                "name": embassy.name,
                "country": embassy.country,
                "city": embassy.city,
                "timezone": embassy.timezone,
                "accredited": list(embassy.accredited),
            },
            actor=actor,
        )
        added += 1
    return added


async def _welcome_emails() -> int:
    created = 0
    for name, address in DEMO_PEOPLE:
        result = await outbox.enqueue(
            "welcome",
            to=address,
            to_name=name,
            category=Category.TRANSACTIONAL,
            dedupe_key=f"demo:welcome:{address}",
        )
        created += result.created
    return created


def _summary(
    settings: Settings,
    *,
    emails: int,
    users: int,
    embassies: int,
    alumni: int,
    events: int,
    invitations: int,
    mail_rows: int,
    newsletters: int,
    history: int,
) -> list[str]:
    base = settings.app.base_url
    lines = [
        f"Demo data loaded: {emails} welcome email(s) queued for {len(DEMO_PEOPLE)} graduates.",
        f"Demo accounts: {users} added, {embassies} embassies added.",
        f"Demo alumni: {alumni} profiles created (the demo holds {TOTAL}, with training, "
        "careers and a few pending registrations).",
        f"Demo events: {events} created at the Nairobi and Bogotá embassies (past, upcoming, "
        "open, draft and cancelled).",
        f"Demo invitations: {invitations} sent, with answers, a waitlist and attendance at "
        "the past reception.",
        f"Demo mail: {mail_rows} message(s) marked failed or deferred, with bounces, a "
        "complaint and an unsubscribe, for the staff mail page (/admin/mail).",
        f"Demo newsletters: {newsletters} added (a sent issue, a draft, a monthly series).",
        f"Demo engagement history: {history} timeline line(s) over six years, for Insights.",
        "",
        "Embassies:",
    ]
    for embassy in DEMO_EMBASSIES:
        covered = ", ".join((embassy.country, *embassy.accredited))
        lines.append(
            f"  {embassy.code:<4} {embassy.name} ({embassy.timezone}), accredited to {covered}"
        )
    lines += [
        "",
        "Logins (demo only: never use these accounts on a real site):",
        f"  {'role':<8} {'email':<32} {'password':<24} {'embassy':<8} {'TOTP secret':<32} name",
    ]
    for account in DEMO_ACCOUNTS:
        lines.append(
            f"  {account.role.value:<8} {account.email:<32} {DEMO_PASSWORD:<24} "
            f"{account.embassy or '-':<8} {account.totp_secret or '-':<32} {account.name}".rstrip()
        )
    lines += [
        "Accounts with a TOTP secret ask for a code after the password. Add the secret to an",
        "authenticator app, or print the current code with:",
        "  python -c \"import pyotp; print(pyotp.TOTP('<secret>').now())\"",
        "",
        "Start the app with `engage serve`, then open:",
        f"  {base}/                the home page",
        f"  {base}/login           sign in with one of the accounts above",
    ]
    if settings.smtp.is_embedded:
        lines.append(
            f"  {base}/admin/mailbox   the emails, as received by the embedded server (admin)"
        )
    return lines
