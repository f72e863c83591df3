"""Data rights: a person downloads everything held about them, and asks for erasure.

::

    data = await export_personal_data(actor=owner, ip=ip)       # JSON-ready, audited
    await request_erasure(password, actor=owner, settings=settings, ip=ip)
    [case] = await pending_erasures(actor=staff)
    await erase_alumnus(case.alumnus.id, actor=staff, settings=settings, ip=ip)
    await is_erased("amani@example.ke", settings)                # True: not recreated

**Export** holds the profile with every field (the staff notes and the "do not
engage" flag included, each saying what it is), training, career, consents with when
and where they were given, the engagement timeline (``engage.alumni.engagement``), the
account (sessions without their keys, API token names
without their hashes) and the audit events about the person. Who acted is given as a
role ("programme staff"), never as a staff member's address: that is their data, not
the person's. An IP address is given only for the person's own actions.

**Erasure requests** need no table of their own: the request is an audit event
(``alumnus.erasure_requested``, target the profile) and the decision another
(``alumnus.erased``, ``alumnus.erasure_declined``, or ``alumnus.erasure_withdrawn`` by
the person). A request is pending while it is the latest of these four events for its
profile. The audit log keeps the whole story, and outlives the personal data.

**Erasure** anonymises rather than deletes, so reports keep their counts: the profile
keeps its country, service, status, vetting, ranks and grades and its training
records; names become "Erased <id>"; addresses, phone, notes, search key, programme
ID, the class year and programme ID declared at registration, position, unit and the
reason for "do not engage" are cleared; consents are off; career entries lose their
positions, and engagement lines their details (a bounce's words may name an
address). Profiles merged into it are erased alike. The account (if any) is
deactivated and anonymised (a placeholder address, no password, no second factor); its
sessions, API tokens and recovery codes are deleted. Addresses are removed from audit
details, the person's IP addresses from the audit log, and mail still queued for them
is cancelled. A keyed hash of each address the person used (:class:`ErasedIdentity`)
stays so that staff or an import cannot recreate them (:func:`is_erased`). The hash
key comes from ``app.secret_key``: changing that key forgets these hashes.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from engage.accounts.actor import Actor, require_role
from engage.accounts.audit import record
from engage.accounts.login import throttle_attempt
from engage.accounts.models import (
    ApiToken,
    AuditEvent,
    EmbassyAssignment,
    RecoveryCode,
    Role,
    Session,
    Throttle,
    User,
)
from engage.accounts.passwords import verify_password
from engage.accounts.users import email_key
from engage.alumni.models import (
    Alumnus,
    CareerEntry,
    Engagement,
    ErasedIdentity,
    TrainingRecord,
)
from engage.alumni.names import refresh_search_tokens
from engage.alumni.profiles import Audience, ProfileView, parse_id, profile_data
from engage.clock import utcnow
from engage.errors import Conflict, InvalidInput, NotFound
from engage.i18n import _
from engage.mail.models import OutboxMessage, Status
from engage.settings import Settings

EXPORTED = "alumnus.export"
ERASURE_REQUESTED = "alumnus.erasure_requested"
ERASURE_WITHDRAWN = "alumnus.erasure_withdrawn"
ERASURE_DECLINED = "alumnus.erasure_declined"
ERASED = "alumnus.erased"
#: The events that make up an erasure request's story.
ERASURE_ACTIONS = (ERASURE_REQUESTED, ERASURE_WITHDRAWN, ERASURE_DECLINED, ERASED)
#: The format of the export, for whoever reads the file later.
EXPORT_FORMAT = "engage-personal-data/1"
#: What stands in for an erased value inside audit details.
REDACTED = "[erased]"
#: Consent source stamped on the consents an erasure turns off.
SOURCE_ERASURE = "erasure"
#: The given name of an erased profile (the family name becomes its id).
ERASED_NAME = "Erased"
_REASON_KEYS = ("reason", "previous_reason")
_MAX_DECLINE_REASON = 1_000


# --- Erased identities ------------------------------------------------------------------


def _hash_key(settings: Settings) -> bytes:
    """A key for this one purpose, derived from the app secret."""
    secret = settings.app.secret_key
    if not secret:
        raise RuntimeError("app.secret_key is needed to hash erased identities")
    return hmac.new(secret.encode(), b"engage/erased-identity/v1", hashlib.sha256).digest()


def email_hash(email: str, settings: Settings) -> str:
    """HMAC-SHA256 (hex) of the address's case-insensitive key."""
    return hmac.new(_hash_key(settings), email_key(email).encode(), hashlib.sha256).hexdigest()


async def is_erased(email: str | None, settings: Settings) -> bool:
    """Whether a person with this address had their data erased (do not recreate them)."""
    if not email or not email.strip():
        return False
    return await ErasedIdentity.exists(email_hash=email_hash(email, settings))


# --- Export -----------------------------------------------------------------------------


async def export_personal_data(
    *, actor: Actor, now: datetime | None = None, ip: str = ""
) -> dict[str, Any]:
    """Everything held about the signed-in person, as JSON-ready data (audited).

    Works without an alumni profile too (the account alone is then exported).
    """
    now = now or utcnow()
    user = await User.get(id=actor.id)
    alumnus = await Alumnus.get_or_none(
        user_id=user.id, merged_into_id=None, erased_at=None
    ).select_related("country")
    merged = await _merged_into(alumnus.id) if alumnus is not None else []
    target = ("alumnus", alumnus.id) if alumnus is not None else ("user", user.id)
    await record(
        EXPORTED,
        actor=user,
        target=target,
        details={"merged_profiles": len(merged)},
        ip=ip,
    )
    profile_ids = ([alumnus.id] if alumnus is not None else []) + [m.id for m in merged]
    data: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "exported_at": now,
        "about": _(
            "Everything this site holds about you: your alumni profile (with the notes "
            "programme staff keep about you), your training and career, your consents, "
            "your account, and the record of actions about you."
        ),
        "account": await _account_data(user),
        "profile": None,
        "training": [],
        "career": [],
        "consents": [],
        "engagement": [],
        "merged_profiles": [],
    }
    if alumnus is not None:
        profile = await _profile_export(alumnus)
        data["training"] = profile.pop("training")
        data["career"] = profile.pop("career")
        data["consents"] = _consents(alumnus)
        data["profile"] = profile
        for old in merged:
            data["merged_profiles"].append(await _profile_export(old))
    data["engagement"] = await _engagement_export(profile_ids)
    data["audit_events"] = await _audit_export(user, profile_ids)
    return data


async def _engagement_export(profile_ids: list[int]) -> list[dict[str, Any]]:
    """The person's engagement timeline, oldest first."""
    lines = await Engagement.filter(alumnus_id__in=profile_ids or [0]).order_by("at", "id")
    return [
        {
            "kind": str(line.kind),
            "at": line.at,
            "about": f"{line.ref_type}:{line.ref_id}" if line.ref_type else "",
            "detail": line.detail,
        }
        for line in lines
    ]


async def _merged_into(alumnus_id: int, using_db: BaseDBAsyncClient | None = None) -> list[Alumnus]:
    """Profiles merged into this one, directly or through others."""
    found: list[Alumnus] = []
    frontier = [alumnus_id]
    seen = {alumnus_id}
    while frontier:
        batch = (
            await Alumnus.filter(merged_into_id__in=frontier)
            .using_db(using_db)  # type: ignore[arg-type]
            .select_related("country")
        )
        batch = [a for a in batch if a.id not in seen]
        seen.update(a.id for a in batch)
        found.extend(batch)
        frontier = [a.id for a in batch]
    return found


async def _profile_export(alumnus: Alumnus) -> dict[str, Any]:
    training = (
        await TrainingRecord.filter(alumnus_id=alumnus.id)
        .select_related("course")
        .order_by("start_date", "class_year", "id")
    )
    career = await CareerEntry.filter(alumnus_id=alumnus.id).order_by("-effective_date", "-id")
    # Every field, as staff see it: the person has the right to all of it.
    view = ProfileView(alumnus=alumnus, audience=Audience.STAFF, training=training, career=career)
    data = profile_data(view)
    data["staff_notes"] = {
        "about": _(
            "Notes programme staff keep about you. You do not see them on the site; "
            "they are included here because they are about you."
        ),
        "text": alumnus.staff_notes,
    }
    data["do_not_engage"] = {
        "about": _(
            "A flag only staff set: while it is on, you receive no invitations or "
            "newsletters. The reason and date are theirs."
        ),
        "flag": alumnus.do_not_engage,
        "reason": alumnus.do_not_engage_reason,
        "since": alumnus.do_not_engage_at,
    }
    for name in ("do_not_engage_reason", "do_not_engage_at"):
        data.pop(name, None)
    return data


def _consents(alumnus: Alumnus) -> list[dict[str, Any]]:
    return [
        {
            "kind": "event_invitations",
            "given": alumnus.accepts_invitations,
            "at": alumnus.invitations_consent_at,
            "source": alumnus.invitations_consent_source,
        },
        {
            "kind": "newsletter",
            "given": alumnus.accepts_newsletter,
            "at": alumnus.newsletter_consent_at,
            "source": alumnus.newsletter_consent_source,
        },
    ]


async def _account_data(user: User) -> dict[str, Any]:
    sessions = await Session.filter(user_id=user.id).order_by("-last_seen_at")
    tokens = await ApiToken.filter(user_id=user.id).order_by("created_at", "id")
    embassies = await EmbassyAssignment.filter(user_id=user.id).values_list(
        "embassy__code", flat=True
    )
    return {
        "id": user.id,
        "email": user.email,
        "pending_email": user.pending_email,
        "role": str(user.role),
        "active": user.is_active,
        "email_verified_at": user.email_verified_at,
        "timezone": user.timezone,
        "language": user.language,
        "created_at": user.created_at,
        "last_login_at": user.last_login_at,
        "two_factor_enabled": user.totp_enabled_at is not None,
        "embassies": sorted(str(code) for code in embassies),
        "sessions": [
            {
                "created_at": s.created_at,
                "last_seen_at": s.last_seen_at,
                "expires_at": s.expires_at,
                "ip": s.ip,
                "user_agent": s.user_agent,
            }
            for s in sessions
        ],
        "api_tokens": [
            {
                "name": t.name,
                "created_at": t.created_at,
                "last_used_at": t.last_used_at,
                "revoked_at": t.revoked_at,
            }
            for t in tokens
        ],
    }


def _about(user: User, profile_ids: list[int]) -> Q:
    """Audit events by the person, or on their account or profiles."""
    about = Q(actor_id=user.id) | Q(target_type="user", target_id=str(user.id))
    if profile_ids:
        about |= Q(target_type="alumnus", target_id__in=[str(i) for i in profile_ids])
    return about


async def _audit_export(user: User, profile_ids: list[int]) -> list[dict[str, Any]]:
    events = (
        await AuditEvent.filter(_about(user, profile_ids))
        .order_by("at", "id")
        .select_related("actor")
    )
    own = {("user", str(user.id)), *(("alumnus", str(i)) for i in profile_ids)}
    return [
        {
            "at": event.at,
            "action": event.action,
            "target": {"type": event.target_type, "id": event.target_id},
            "by": _who(event.actor, user),
            # What the person did to someone else's record (an attaché or staff member
            # exporting their own data): the fact, not the details, which are about
            # the other person.
            "details": event.details
            if not event.target_type or (event.target_type, event.target_id) in own
            else None,
            # Another person's address is theirs, not part of this person's data.
            "ip": event.ip if event.actor_id == user.id else None,  # type: ignore[attr-defined]
        }
        for event in events
    ]


def _who(actor: User | None, person: User) -> str:
    if actor is None:
        return "system"
    if actor.id == person.id:
        return "you"
    return {
        Role.ADMIN: "administrator",
        Role.STAFF: "programme staff",
        Role.ATTACHE: "embassy attaché",
    }.get(Role(actor.role), "another person")


# --- Erasure requests -------------------------------------------------------------------


@dataclass(frozen=True)
class ErasureCase:
    """A profile and where its erasure stands."""

    alumnus: Alumnus
    #: The pending request (None when there is none).
    request: AuditEvent | None
    #: The latest event of the story (request, decision or withdrawal), if any.
    latest: AuditEvent | None
    training_records: int = 0
    career_entries: int = 0
    merged_profiles: int = 0

    @property
    def pending(self) -> bool:
        return self.request is not None

    @property
    def declined(self) -> bool:
        return self.latest is not None and self.latest.action == ERASURE_DECLINED

    @property
    def decline_reason(self) -> str:
        if not self.declined or self.latest is None:
            return ""
        return str((self.latest.details or {}).get("reason", ""))


async def _latest_events(alumnus_ids: Iterable[int] | None = None) -> dict[int, AuditEvent]:
    """The latest erasure-story event per profile (all profiles, or these)."""
    query = AuditEvent.filter(action__in=ERASURE_ACTIONS, target_type="alumnus")
    if alumnus_ids is not None:
        query = query.filter(target_id__in=[str(i) for i in alumnus_ids])
    latest: dict[int, AuditEvent] = {}
    for event in await query.order_by("id").select_related("actor"):
        pk = parse_id(event.target_id)
        if pk is not None:
            latest[pk] = event
    return latest


async def _case(alumnus: Alumnus) -> ErasureCase:
    latest = (await _latest_events([alumnus.id])).get(alumnus.id)
    pending = latest if latest is not None and latest.action == ERASURE_REQUESTED else None
    return ErasureCase(
        alumnus=alumnus,
        request=pending,
        latest=latest,
        training_records=await TrainingRecord.filter(alumnus_id=alumnus.id).count(),
        career_entries=await CareerEntry.filter(alumnus_id=alumnus.id).count(),
        merged_profiles=len(await _merged_into(alumnus.id)),
    )


async def own_erasure_case(*, actor: Actor) -> ErasureCase | None:
    """The signed-in person's profile and its erasure state; None without a profile."""
    alumnus = await Alumnus.get_or_none(
        user_id=actor.id, merged_into_id=None, erased_at=None
    ).select_related("country")
    return None if alumnus is None else await _case(alumnus)


async def request_erasure(
    password: str,
    *,
    actor: Actor,
    settings: Settings,
    now: datetime | None = None,
    ip: str = "",
) -> AuditEvent:
    """The person asks staff to erase their data (their password confirms it).

    Raises InvalidInput (wrong password), Throttled, Conflict (no profile, or a request
    already pending).
    """
    now = now or utcnow()
    case = await own_erasure_case(actor=actor)
    if case is None:
        raise Conflict(_("No alumni profile is linked to your account."))
    if case.pending:
        raise Conflict(_("You have already asked for erasure; programme staff will answer."))
    user = await User.get(id=actor.id)
    if not password:
        raise InvalidInput(
            _("Enter your password to confirm."), fields={"password": _("Required.")}
        )
    await throttle_attempt("reauth", email=user.email, ip=ip, now=now, settings=settings)
    ok, _rehash = await verify_password(user.password_hash, password, settings.security)
    if not ok:
        raise InvalidInput(_("Your password is not right."), fields={"password": _("Not right.")})
    return await record(ERASURE_REQUESTED, actor=user, target=("alumnus", case.alumnus.id), ip=ip)


async def withdraw_erasure(*, actor: Actor, ip: str = "") -> None:
    """The person takes back their pending request (Conflict when there is none)."""
    case = await own_erasure_case(actor=actor)
    if case is None or not case.pending:
        raise Conflict(_("There is no erasure request to withdraw."))
    await record(ERASURE_WITHDRAWN, actor=actor.user, target=("alumnus", case.alumnus.id), ip=ip)


async def pending_erasures(*, actor: Actor) -> list[ErasureCase]:
    """Requests waiting for staff, oldest first."""
    require_role(actor, Role.STAFF)
    latest = await _latest_events()
    waiting = {pk: e for pk, e in latest.items() if e.action == ERASURE_REQUESTED}
    people = {
        a.id: a
        for a in await Alumnus.filter(id__in=list(waiting), erased_at=None).select_related(
            "country"
        )
    }
    cases = [
        ErasureCase(alumnus=people[pk], request=event, latest=event)
        for pk, event in waiting.items()
        if pk in people
    ]
    return sorted(cases, key=lambda c: c.request.at if c.request else c.alumnus.created_at)


async def recent_erasure_decisions(*, actor: Actor, limit: int = 20) -> list[AuditEvent]:
    """The latest erasures and declined requests, newest first."""
    require_role(actor, Role.STAFF)
    return (
        await AuditEvent.filter(action__in=(ERASED, ERASURE_DECLINED))
        .select_related("actor")
        .order_by("-at", "-id")
        .limit(limit)
    )


async def erasure_case(alumnus_id: object, *, actor: Actor) -> ErasureCase:
    """A profile and where its erasure stands (staff)."""
    require_role(actor, Role.STAFF)
    pk = parse_id(alumnus_id)
    alumnus = None if pk is None else await Alumnus.get_or_none(id=pk).select_related("country")
    if alumnus is None:
        raise NotFound(_("No such alumni profile."))
    return await _case(alumnus)


async def decline_erasure(alumnus_id: object, reason: str, *, actor: Actor, ip: str = "") -> None:
    """Staff decline a pending request, saying why (the person sees the reason)."""
    case = await erasure_case(alumnus_id, actor=actor)
    if not case.pending:
        raise Conflict(_("There is no pending erasure request for this profile."))
    reason = " ".join(reason.split())
    if not reason or len(reason) > _MAX_DECLINE_REASON:
        raise InvalidInput(
            _("Please correct the marked fields."),
            fields={
                "reason": _(
                    "Say why (at most %(n)s characters): the person sees it.",
                    n=_MAX_DECLINE_REASON,
                )
                if reason
                else _("Say why: the person sees it.")
            },
        )
    await record(
        ERASURE_DECLINED,
        actor=actor.user,
        target=("alumnus", case.alumnus.id),
        details={"reason": reason, "request": case.request.id if case.request else None},
        ip=ip,
    )


# --- Erasure ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ErasureResult:
    alumnus_id: int
    #: Profiles anonymised: this one and those merged into it.
    profiles: int
    #: Accounts deactivated and anonymised.
    accounts: int
    #: Addresses whose keyed hash now blocks re-creation.
    identities: int


def erased_user_email(user_id: int) -> str:
    """The placeholder address of an erased account (``.invalid`` never delivers)."""
    return f"erased-{user_id}@erased.invalid"


async def erase_alumnus(
    alumnus_id: object,
    *,
    actor: Actor,
    settings: Settings,
    now: datetime | None = None,
    ip: str = "",
) -> ErasureResult:
    """Anonymise a person (staff): see the module doc for what goes and what stays.

    With or without a pending request (a person may ask by letter). Raises NotFound,
    Conflict (already erased, or merged into another profile: erase that one, or one's
    own profile: another staff member does it).
    """
    case = await erasure_case(alumnus_id, actor=actor)
    alumnus = case.alumnus
    if alumnus.erased_at is not None:
        raise Conflict(_("This person's data was already erased."))
    if alumnus.merged_into_id is not None:  # type: ignore[attr-defined]
        raise Conflict(_("This profile was merged into another: erase that profile instead."))
    if alumnus.user_id is not None and alumnus.user_id == actor.id:  # type: ignore[attr-defined]
        raise Conflict(_("Another staff member must erase your own profile."))
    now = now or utcnow()
    async with in_transaction() as conn:
        people = [alumnus, *await _merged_into(alumnus.id, conn)]
        ids = [p.id for p in people]
        user_ids = sorted(
            {p.user_id for p in people if p.user_id is not None}  # type: ignore[attr-defined]
        )
        users = await User.filter(id__in=user_ids).using_db(conn)
        keys = await _known_addresses(people, users, conn)
        for person in people:
            await _anonymise_profile(person, now=now, conn=conn)
        await refresh_search_tokens(ids, using_db=conn)  # no search finds them any more
        await CareerEntry.filter(alumnus_id__in=ids).using_db(conn).update(position="")
        await Engagement.filter(alumnus_id__in=ids).using_db(conn).update(detail="")
        for user in users:
            await _anonymise_account(user, keys, conn=conn)
        await ErasedIdentity.bulk_create(
            [ErasedIdentity(email_hash=email_hash(k, settings), erased_at=now) for k in keys],
            ignore_conflicts=True,
            using_db=conn,
        )
        await _scrub_audit(ids, user_ids, keys, conn=conn)
        await _scrub_outbox(keys, conn=conn)
        await record(
            ERASED,
            actor=actor.user,
            target=("alumnus", alumnus.id),
            # Counts and ids only: the log outlives the personal data.
            details={
                "requested": case.pending,
                "request": case.request.id if case.request else None,
                "profiles": len(people),
                "accounts": len(users),
                "training_records_kept": case.training_records,
                "career_entries_kept": case.career_entries,
            },
            ip=ip,
            using_db=conn,
        )
    return ErasureResult(
        alumnus_id=alumnus.id, profiles=len(people), accounts=len(users), identities=len(keys)
    )


async def _known_addresses(
    people: list[Alumnus], users: list[User], conn: BaseDBAsyncClient
) -> set[str]:
    """Every address the person used: profiles, accounts, and earlier account addresses."""
    found = set()
    for person in people:
        found.update(a for a in (person.email, person.secondary_email) if a)
    for user in users:
        found.update(a for a in (user.email, user.pending_email) if a)
    if users:
        events = (
            await AuditEvent.filter(target_type="user", target_id__in=[str(u.id) for u in users])
            .using_db(conn)
            .values_list("details", flat=True)
        )
        for details in events:
            if isinstance(details, dict):
                found.update(str(details[k]) for k in ("old", "new", "email") if details.get(k))
    return {email_key(a) for a in found if "@" in a}


async def _anonymise_profile(person: Alumnus, *, now: datetime, conn: BaseDBAsyncClient) -> None:
    await (
        Alumnus.filter(id=person.id)
        .using_db(conn)
        .update(
            given_name=ERASED_NAME,
            family_name=str(person.id),
            given_name_latin="",
            family_name_latin="",
            preferred_name="",
            search_key="",
            email=None,
            email_key=None,
            secondary_email=None,
            secondary_verified_at=None,
            # A verification link still in someone's inbox stops working.
            secondary_version=F("secondary_version") + 1,
            phone="",
            position="",
            unit="",
            language="en",
            timezone="UTC",
            programme_id=None,
            declared_class_year=None,
            declared_programme_id=None,
            accepts_invitations=False,
            invitations_consent_at=now,
            invitations_consent_source=SOURCE_ERASURE,
            accepts_newsletter=False,
            newsletter_consent_at=now,
            newsletter_consent_source=SOURCE_ERASURE,
            staff_notes="",
            do_not_engage_reason="",
            contact_edited_at=None,
            user_id=None,
            erased_at=now,
        )
    )


async def _anonymise_account(user: User, keys: set[str], *, conn: BaseDBAsyncClient) -> None:
    placeholder = erased_user_email(user.id)
    await (
        User.filter(id=user.id)
        .using_db(conn)
        .update(
            email=placeholder,
            email_key=placeholder,
            pending_email=None,
            password_hash=None,
            is_active=False,
            session_version=F("session_version") + 1,
            verify_version=F("verify_version") + 1,
            reset_version=F("reset_version") + 1,
            reset_expires_at=None,
            totp_secret=None,
            totp_enabled_at=None,
            totp_last_step=None,
            timezone="UTC",
            language="en",
        )
    )
    await Session.filter(user_id=user.id).using_db(conn).delete()
    await ApiToken.filter(user_id=user.id).using_db(conn).delete()
    await RecoveryCode.filter(user_id=user.id).using_db(conn).delete()
    await EmbassyAssignment.filter(user_id=user.id).using_db(conn).delete()
    for key in keys:
        # Throttle keys name the address ("login:account:a@x.org").
        await Throttle.filter(key__endswith=f":account:{key}").using_db(conn).delete()


def _redact(value: Any, keys: set[str]) -> tuple[Any, bool]:
    """``value`` with every string naming one of ``keys`` replaced; whether it changed."""
    if isinstance(value, str):
        if value.strip().lower() in keys:
            return REDACTED, True
        return value, False
    if isinstance(value, list):
        items = [_redact(v, keys) for v in value]
        return [v for v, _c in items], any(c for _v, c in items)
    if isinstance(value, dict):
        changed = False
        out = {}
        for k, v in value.items():
            out[k], c = _redact(v, keys)
            changed = changed or c
        return out, changed
    return value, False


async def _scrub_audit(
    profile_ids: list[int], user_ids: list[int], keys: set[str], *, conn: BaseDBAsyncClient
) -> None:
    """Addresses and free-text reasons about the person out of the audit details; the
    person's own IP addresses out of the log. Who did what, and when, stays."""
    about = Q(target_type="alumnus", target_id__in=[str(i) for i in profile_ids])
    if user_ids:
        about |= Q(actor_id__in=user_ids) | Q(
            target_type="user", target_id__in=[str(i) for i in user_ids]
        )
    # Failed sign-ins name the address typed, with no account when none matched.
    about |= Q(action="user.login_failed", target_type="")
    events = await AuditEvent.filter(about).using_db(conn)
    mine = set(user_ids)
    for event in events:
        details, changed = _redact(event.details, keys)
        if event.target_type == "alumnus" and isinstance(details, dict):
            for name in _REASON_KEYS:
                if details.get(name):
                    details[name] = REDACTED
                    changed = True
        update: dict[str, Any] = {}
        if changed:
            update["details"] = details
        if event.actor_id in mine and event.ip:  # type: ignore[attr-defined]
            update["ip"] = ""
        if update:
            await AuditEvent.filter(id=event.id).using_db(conn).update(**update)


async def _scrub_outbox(keys: set[str], *, conn: BaseDBAsyncClient) -> None:
    """Mail to the person's addresses: still-queued messages are cancelled; every row
    forgets the address (``sending`` rows are left to the worker that holds them)."""
    for key in keys:
        rows = (
            await OutboxMessage.filter(to_address__iexact=key)
            .exclude(status=Status.SENDING)
            .using_db(conn)
        )
        for row in rows:
            update: dict[str, Any] = {
                "to_address": f"erased-{row.id}@erased.invalid",
                "to_name": "",
            }
            if row.status in (Status.QUEUED, Status.DEFERRED):
                update["status"] = Status.FAILED
                update["last_error"] = "cancelled: the recipient's data was erased"
            if key in row.dedupe_key.lower():
                update["dedupe_key"] = f"erased:{row.id}"
            await OutboxMessage.filter(id=row.id).using_db(conn).update(**update)
