"""The suppression list, and the unsubscribe link every bulk message carries.

An address is suppressed per scope (invitations, newsletter, or all bulk mail) with
a reason (unsubscribed, hard bounce, complaint, manual). Bulk mail to an address
suppressed for its topic, or for all, is never sent; transactional mail stops only
for a hard bounce (DESIGN.md)::

    await suppress("amani@example.org", SuppressionScope.NEWSLETTER,
                   SuppressionReason.UNSUBSCRIBED, message_id=row.id)
    await suppression_for(address, category=Category.BULK, topic=Topic.INVITATIONS)
    Alumnus.filter(~suppressed_alumni_q(Topic.NEWSLETTER))      # the eligibility rule

The unsubscribe link names the outbox row it came in (a derived token, DESIGN.md):
following it acts on that row's address and topic. The mailto form carries a
shorter, lower-case token, as mail servers may fold the case of a local part::

    unsubscribe_url(settings, row)      # https://.../unsubscribe/<id>.1.<mac>
    unsubscribe_mailto(settings, row)   # mailto:unsubscribe+<id>-<mac>@<mail.domain>
    await unsubscribe_by_token(settings, token)   # either token; None when forged

Consent is per person and lives with the alumni, the suppression list per address:
the domain that keeps consent registers here (:func:`register_consent`), so an
unsubscribe through a link updates both, and a resubscription clears both.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q, Subquery
from tortoise.transactions import in_transaction

from engage.clock import utcnow
from engage.errors import InvalidInput, NotFound, PermissionDenied
from engage.i18n import _
from engage.mail.models import (
    Category,
    OutboxMessage,
    Suppression,
    SuppressionReason,
    SuppressionScope,
    Topic,
)
from engage.settings import Settings
from engage.tokens import make_token, read_token

if TYPE_CHECKING:
    from engage.accounts.actor import Actor

PURPOSE = "unsubscribe"
_MAILTO_PURPOSE = "unsubscribe-mailto"
#: Unsubscribe links never need revoking: the version is fixed.
_VERSION = 1
#: The body of an RFC 8058 one-click POST, and the header value announcing it.
ONE_CLICK = "List-Unsubscribe=One-Click"
#: ``<id>-<16 base32 letters>``: 80 bits of MAC, lower case.
_SHORT = re.compile(r"^(\d{1,18})-([a-z2-7]{16})$")
#: What the consent fields record as the source of a change.
SOURCE_LINK = "unsubscribe link"
SOURCE_PAGE = "preference page"
#: The topics a person chooses on the preference page, in display order.
TOPICS = (Topic.NEWSLETTER, Topic.INVITATIONS)


def address_key(address: str) -> str:
    """The form the list keys addresses by: lower-cased, stripped."""
    return address.strip().lower()


def scope_of(topic: Topic | None) -> SuppressionScope:
    """The scope an unsubscribe from a message on ``topic`` acts on (a bulk message
    without a topic: all bulk mail)."""
    return SuppressionScope(topic.value) if topic is not None else SuppressionScope.ALL


# --- The list -------------------------------------------------------------------------


async def suppress(
    address: str,
    scope: SuppressionScope,
    reason: SuppressionReason,
    *,
    detail: str = "",
    message_id: int | None = None,
    now: datetime | None = None,
    using_db: BaseDBAsyncClient | None = None,
) -> bool:
    """Suppress ``address`` for ``scope``; True when that changed anything.

    Idempotent: an address already suppressed for the scope keeps its entry (and
    its first reason), except that a hard bounce replaces another reason on scope
    "all", since only a hard bounce also stops transactional mail.
    """
    key = address_key(address)
    if "@" not in key:
        raise InvalidInput(_("Not an email address."), fields={"address": address})
    now = now or utcnow()
    conn = using_db or Suppression._choose_db(True)
    columns = ("address_key", "scope", "reason", "detail", "created_at", "message_id")
    marks = (
        [f"${n}" for n in range(1, len(columns) + 1)]
        if conn.capabilities.dialect == "postgres"
        else ["?"] * len(columns)
    )
    names = ", ".join(f'"{c}"' for c in columns)
    # ON CONFLICT DO NOTHING: a second unsubscribe neither fails nor aborts the
    # caller's transaction; RETURNING says whether this call added the row (not
    # the count: Tortoise reads PostgreSQL's "INSERT 0 1" as 0 rows).
    sql = (
        f'INSERT INTO "{Suppression._meta.db_table}" ({names}) '  # noqa: S608 (constants)
        f"VALUES ({', '.join(marks)}) "
        'ON CONFLICT ("address_key", "scope") DO NOTHING RETURNING "id"'
    )
    values = [key, scope.value, reason.value, detail[:2000], now, message_id]
    if await conn.execute_query_dict(sql, values):
        return True
    if reason is SuppressionReason.HARD_BOUNCE and scope is SuppressionScope.ALL:
        upgraded = await (
            Suppression.filter(address_key=key, scope=scope)
            .exclude(reason=SuppressionReason.HARD_BOUNCE)
            .using_db(using_db)
            .update(reason=reason, detail=detail[:2000], created_at=now, message_id=message_id)
        )
        return bool(upgraded)
    return False


async def lift_suppression(actor: Actor, suppression_id: int, *, ip: str = "") -> None:
    """Remove an entry (a false-positive bounce, say): staff only, audit-logged.

    PermissionDenied below staff; NotFound for an unknown id.
    """
    # Imported here: engage.accounts imports the mail renderer, which imports this
    # module (the unsubscribe headers).
    from engage.accounts.audit import record
    from engage.accounts.models import Role

    if not actor.at_least(Role.STAFF):
        raise PermissionDenied(_("Only programme staff may lift a suppression."))
    async with in_transaction() as conn:
        entry = (
            await Suppression.filter(id=suppression_id).select_for_update().using_db(conn).first()
        )
        if entry is None:
            raise NotFound(_("No such suppression."))
        await Suppression.filter(id=entry.id).using_db(conn).delete()
        await record(
            "mail.suppression_lifted",
            actor=actor.user,
            target=("suppression", entry.id),
            details={
                "address": entry.address_key,
                "scope": entry.scope.value,
                "reason": entry.reason.value,
                "detail": entry.detail[:200],
            },
            ip=ip,
            using_db=conn,
        )


def stops(entry: Suppression, *, category: Category, topic: Topic | None) -> bool:
    """Whether ``entry`` stops a message of ``category`` and ``topic``: transactional
    mail only for a hard bounce (scope all); bulk mail for an entry of all bulk mail
    or of its topic (any entry, for bulk mail that says nothing of its topic)."""
    if Category(category) is Category.TRANSACTIONAL:
        return entry.scope == SuppressionScope.ALL and entry.reason == SuppressionReason.HARD_BOUNCE
    if topic is None:
        return True
    return entry.scope in (SuppressionScope.ALL, scope_of(topic))


async def entries_for(
    addresses: Iterable[str], *, using_db: BaseDBAsyncClient | None = None
) -> dict[str, list[Suppression]]:
    """The entries of ``addresses`` by address key, oldest first (one query)."""
    keys = sorted({address_key(a) for a in addresses})
    found: dict[str, list[Suppression]] = {}
    if keys:
        query = Suppression.filter(address_key__in=keys).order_by("id").using_db(using_db)
        for entry in await query:
            found.setdefault(entry.address_key, []).append(entry)
    return found


async def suppression_for(
    address: str,
    *,
    category: Category,
    topic: Topic | None,
    using_db: BaseDBAsyncClient | None = None,
) -> Suppression | None:
    """The entry that stops a message to ``address`` (None: it may go); see
    :func:`stops`."""
    entries = (await entries_for([address], using_db=using_db)).get(address_key(address), [])
    return next((e for e in entries if stops(e, category=category, topic=topic)), None)


def suppressed_alumni_q(topic: Topic) -> Q:
    """A filter on Alumnus: the people whose address is suppressed for ``topic``.

    The list is keyed by address; a person's address is the primary one, or the
    verified secondary once the primary failed (``engage.alumni.addresses``): a
    hard bounce alone does not leave out someone reachable at a verified secondary
    address (the send-time check then looks at the address actually used).
    """
    scopes = [SuppressionScope.ALL, scope_of(topic)]
    bounce = SuppressionReason.HARD_BOUNCE
    blocking = Suppression.filter(scope__in=scopes).exclude(reason=bounce).values("address_key")
    bounced = Suppression.filter(scope__in=scopes, reason=bounce).values("address_key")
    no_fallback = Q(
        Q(email_failing_at__isnull=True),
        Q(secondary_email__isnull=True),
        Q(secondary_verified_at__isnull=True),
        join_type=Q.OR,
    )
    return Q(email_key__in=Subquery(blocking)) | Q(Q(email_key__in=Subquery(bounced)), no_fallback)


# --- Unsubscribe links ----------------------------------------------------------------


def unsubscribe_token(settings: Settings, row: OutboxMessage) -> str:
    """The token of ``row``'s unsubscribe link (derived, never stored)."""
    return make_token(settings.app.secret_key, PURPOSE, int(row.id), _VERSION)


def unsubscribe_url(settings: Settings, row: OutboxMessage) -> str:
    return f"{settings.app.base_url}/unsubscribe/{unsubscribe_token(settings, row)}"


def _short_mac(secret: str, row_id: int) -> str:
    message = f"engage-token\x00{_MAILTO_PURPOSE}\x00{row_id}\x00{_VERSION}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b32encode(digest[:10]).decode().lower()


def mailto_token(settings: Settings, row: OutboxMessage) -> str:
    """The short token of the mailto address (the part after ``unsubscribe+``)."""
    return f"{int(row.id)}-{_short_mac(settings.app.secret_key, int(row.id))}"


def unsubscribe_mailto(settings: Settings, row: OutboxMessage) -> str:
    return f"mailto:unsubscribe+{mailto_token(settings, row)}@{settings.mail.domain}"


def token_row_id(settings: Settings, token: str) -> int | None:
    """The outbox id an unsubscribe token names (the link's or the mailto's form);
    None when forged or malformed."""
    token = (token or "").strip()
    claim = read_token(settings.app.secret_key, PURPOSE, token)
    if claim is not None:
        return claim.id if claim.version == _VERSION else None
    match = _SHORT.match(token.lower())
    if match is None:
        return None
    row_id = int(match.group(1))
    expected = _short_mac(settings.app.secret_key, row_id)
    return row_id if hmac.compare_digest(expected, match.group(2)) else None


async def message_for_token(settings: Settings, token: str) -> OutboxMessage | None:
    """The bulk message an unsubscribe token names; None when forged, or the
    message is gone or not bulk mail."""
    row_id = token_row_id(settings, token)
    if row_id is None:
        return None
    row = await OutboxMessage.get_or_none(id=row_id)
    if row is None or row.category != Category.BULK:
        return None
    return row


# --- Consent (registered by the domain that keeps it) ---------------------------------

#: ``read(row)``: the recipient's consent by topic, or None when the row names
#: nobody whose consent is kept.
ConsentReader = Callable[[OutboxMessage], Awaitable[dict[Topic, bool] | None]]
#: ``write(row, changes, source, now, conn)``: set the recipient's consent.
ConsentWriter = Callable[
    [OutboxMessage, Mapping[Topic, bool], str, datetime, BaseDBAsyncClient], Awaitable[None]
]
_READERS: list[ConsentReader] = []
_WRITERS: list[ConsentWriter] = []


def register_consent(*, read: ConsentReader, write: ConsentWriter) -> None:
    """Have unsubscribes and the preference page read and change people's consent."""
    if read not in _READERS:
        _READERS.append(read)
    if write not in _WRITERS:
        _WRITERS.append(write)


async def _read_consent(row: OutboxMessage) -> dict[Topic, bool] | None:
    for read in _READERS:
        found = await read(row)
        if found is not None:
            return found
    return None


async def _write_consent(
    row: OutboxMessage,
    changes: Mapping[Topic, bool],
    *,
    source: str,
    now: datetime,
    conn: BaseDBAsyncClient,
) -> None:
    for write in _WRITERS:
        await write(row, changes, source, now, conn)


def _topics_of(scope: SuppressionScope) -> tuple[Topic, ...]:
    return TOPICS if scope is SuppressionScope.ALL else (Topic(scope.value),)


# --- Unsubscribing and choosing -------------------------------------------------------


@dataclass(frozen=True)
class Unsubscribed:
    address: str
    scope: SuppressionScope
    #: False when the address was already unsubscribed (the call changed nothing).
    created: bool


async def unsubscribe_by_token(
    settings: Settings,
    token: str,
    *,
    scope: SuppressionScope | None = None,
    source: str = SOURCE_LINK,
    now: datetime | None = None,
) -> Unsubscribed | None:
    """Unsubscribe the address of the message ``token`` names from the message's
    topic (or ``scope``); None when the token is not valid. Idempotent.

    The one-click POST and the mailto (``unsubscribe+<token>@``) both end here. The
    recipient's consent to that topic is withdrawn too (``source`` records how).
    """
    row = await message_for_token(settings, token)
    if row is None:
        return None
    scope = scope or scope_of(row.topic)
    now = now or utcnow()
    async with in_transaction() as conn:
        created = await suppress(
            row.to_address,
            scope,
            SuppressionReason.UNSUBSCRIBED,
            detail=source,
            message_id=row.id,
            now=now,
            using_db=conn,
        )
        changes = dict.fromkeys(_topics_of(scope), False)
        await _write_consent(row, changes, source=source, now=now, conn=conn)
    return Unsubscribed(address=row.to_address, scope=scope, created=created)


async def resubscribe(
    addresses: Iterable[str],
    topics: Iterable[Topic],
    *,
    using_db: BaseDBAsyncClient | None = None,
) -> int:
    """Lift the unsubscribes of ``addresses`` from ``topics``: the person gave their
    consent back (the preference page, their profile). Returns how many entries went.

    Only their own unsubscribes: never a hard bounce, a complaint or staff's entry.
    An unsubscribe from all bulk mail becomes one per topic not given back.
    """
    keys = sorted({address_key(a) for a in addresses if a})
    back = set(topics)
    if not keys or not back:
        return 0
    own = Suppression.filter(address_key__in=keys, reason=SuppressionReason.UNSUBSCRIBED)
    lifted = 0
    for entry in await own.filter(scope=SuppressionScope.ALL).using_db(using_db):
        await Suppression.filter(id=entry.id).using_db(using_db).delete()
        lifted += 1
        for topic in set(TOPICS) - back:
            await suppress(
                entry.address_key,
                scope_of(topic),
                SuppressionReason.UNSUBSCRIBED,
                detail=entry.detail,
                message_id=entry.message_id,  # type: ignore[attr-defined]
                now=entry.created_at,
                using_db=using_db,
            )
    scopes = [scope_of(topic) for topic in back]
    lifted += await own.filter(scope__in=scopes).using_db(using_db).delete()
    return lifted


@dataclass(frozen=True)
class Preferences:
    """What the preference page shows for one message's address."""

    message: OutboxMessage
    address: str
    #: The topic of the message the link came in (None: not said).
    topic: Topic | None
    #: Whether the address receives each topic (newsletter, invitations).
    receives: dict[Topic, bool]
    #: Entries the person cannot lift (a hard bounce, a complaint, staff's decision).
    blocked: list[Suppression]


async def preferences_by_token(settings: Settings, token: str) -> Preferences | None:
    """The preference page's state; None when the token is not valid. Never changes
    anything (a link checker opening the link unsubscribes nobody)."""
    row = await message_for_token(settings, token)
    if row is None:
        return None
    return await _preferences(row)


async def _preferences(row: OutboxMessage) -> Preferences:
    entries = await Suppression.filter(address_key=address_key(row.to_address)).order_by("id")
    consent = await _read_consent(row) or {}
    receives = {}
    for topic in TOPICS:
        stopped = any(e.scope in (SuppressionScope.ALL, scope_of(topic)) for e in entries)
        receives[topic] = not stopped and consent.get(topic, True)
    blocked = [e for e in entries if e.reason != SuppressionReason.UNSUBSCRIBED]
    return Preferences(
        message=row, address=row.to_address, topic=row.topic, receives=receives, blocked=blocked
    )


async def set_preferences(
    settings: Settings,
    token: str,
    wanted: Mapping[Topic, bool],
    *,
    now: datetime | None = None,
) -> Preferences | None:
    """Receive the topics ``wanted`` marks True and not the others; None when the
    token is not valid.

    Turning a topic off suppresses the address for it and withdraws the person's
    consent; turning it on lifts their own unsubscribes (never a hard bounce, a
    complaint or staff's entry) and gives the consent back.
    """
    row = await message_for_token(settings, token)
    if row is None:
        return None
    now = now or utcnow()
    choice = {topic: bool(wanted.get(topic, False)) for topic in TOPICS}
    async with in_transaction() as conn:
        wanted_back = [topic for topic, on in choice.items() if on]
        await resubscribe([row.to_address], wanted_back, using_db=conn)
        for topic, on in choice.items():
            if not on:
                await suppress(
                    row.to_address,
                    scope_of(topic),
                    SuppressionReason.UNSUBSCRIBED,
                    detail=SOURCE_PAGE,
                    message_id=row.id,
                    now=now,
                    using_db=conn,
                )
        await _write_consent(row, choice, source=SOURCE_PAGE, now=now, conn=conn)
    return await _preferences(row)
