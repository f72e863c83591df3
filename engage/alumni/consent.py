"""Consent and the mail package: what the unsubscribe link changes, and the
eligibility rule asked again when a bulk message is about to go.

Consent is per person (``accepts_invitations``, ``accepts_newsletter``), the
suppression list per address. Following an unsubscribe link sets both: the
address is suppressed for the topic and the person's consent is withdrawn, with
``"unsubscribe link"`` as its source; resubscribing on the preference page gives it
back (source ``"preference page"``). The mail package knows nothing of alumni: this
module registers into it (importing ``engage.alumni`` is enough).

At send time the worker asks :func:`still_eligible` about every batch of bulk
messages to alumni: someone who withdrew consent, was flagged "do not engage", or
whose country's programme was suspended since the row was queued is skipped, with
the rule's reason (a run that overrode the suspension says so in the row's context).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from engage.alumni.eligibility import BulkKind, Reason, bulk_eligible, ineligibility
from engage.alumni.models import Alumnus
from engage.mail.gate import register_send_check
from engage.mail.models import Category, OutboxMessage, Topic
from engage.mail.suppression import register_consent

#: The consent fields of each topic: (accepts, when, source).
_FIELDS = {
    Topic.INVITATIONS: (
        "accepts_invitations",
        "invitations_consent_at",
        "invitations_consent_source",
    ),
    Topic.NEWSLETTER: ("accepts_newsletter", "newsletter_consent_at", "newsletter_consent_source"),
}


def _kind(row: OutboxMessage) -> BulkKind:
    """The rule's kind for a bulk row (one without a topic: invitations, the narrower)."""
    return BulkKind.NEWSLETTER if row.topic == Topic.NEWSLETTER else BulkKind.INVITATIONS


async def _person(row: OutboxMessage, conn: BaseDBAsyncClient | None = None) -> Alumnus | None:
    """The alumnus a row is addressed to (directly, or through their account)."""
    if row.recipient_id is None:
        return None
    if row.recipient_type == "alumnus":
        return await Alumnus.get_or_none(id=row.recipient_id).using_db(conn)
    if row.recipient_type == "user":
        return await Alumnus.get_or_none(user_id=row.recipient_id).using_db(conn)
    return None


@register_send_check
async def still_eligible(rows: Sequence[OutboxMessage]) -> dict[int, str]:
    """The rule's reason for each bulk row whose alumnus may no longer receive it,
    by row id: one query per kind of mail in the batch in the usual case, the
    reasons only for someone left out."""
    groups: dict[tuple[BulkKind, bool], list[OutboxMessage]] = {}
    for row in rows:
        if row.category != Category.BULK or row.recipient_type != "alumnus":
            continue
        if row.recipient_id is None:
            continue
        override = bool((row.context or {}).get("override_suspension"))
        groups.setdefault((_kind(row), override), []).append(row)
    reasons: dict[int, str] = {}
    for (kind, override), group in groups.items():
        ids = sorted({int(r.recipient_id) for r in group if r.recipient_id is not None})
        rule = bulk_eligible(kind, override_suspension=override)
        fine = set(await Alumnus.filter(rule, id__in=ids).values_list("id", flat=True))
        why: dict[int, str] = {}
        for row in group:
            person_id = int(row.recipient_id or 0)
            if person_id in fine:
                continue
            if person_id not in why:
                why[person_id] = await _reason(person_id, kind, override)
            reasons[row.id] = why[person_id]
    return reasons


async def _reason(person_id: int, kind: BulkKind, override: bool) -> str:
    person = await Alumnus.get_or_none(id=person_id)
    if person is None:
        return Reason.GONE.value
    found = await ineligibility(person, kind, override_suspension=override)
    return found[0].value if found else Reason.NO_CONSENT.value


async def _read(row: OutboxMessage) -> dict[Topic, bool] | None:
    person = await _person(row)
    if person is None:
        return None
    return {topic: bool(getattr(person, fields[0])) for topic, fields in _FIELDS.items()}


async def _write(
    row: OutboxMessage,
    changes: Mapping[Topic, bool],
    source: str,
    now: datetime,
    conn: BaseDBAsyncClient,
) -> None:
    person = await _person(row, conn)
    if person is None:
        return
    values: dict[str, Any] = {}
    for topic, wanted in changes.items():
        accepts, when, where = _FIELDS[Topic(topic)]
        if bool(getattr(person, accepts)) != bool(wanted):
            values.update({accepts: bool(wanted), when: now, where: source})
    if values:
        await Alumnus.filter(id=person.id).using_db(conn).update(**values)


register_consent(read=_read, write=_write)
