"""Consent and the mail package: what the unsubscribe link changes, and the
eligibility rule asked again when a bulk message is about to go.

Consent is per person (``accepts_invitations``, ``accepts_newsletter``), the
suppression list per address. Following an unsubscribe link sets both: the
address is suppressed for the topic and the person's consent is withdrawn, with
``"unsubscribe link"`` as its source; resubscribing on the preference page gives it
back (source ``"preference page"``). The mail package knows nothing of alumni: this
module registers into it (importing ``engage.alumni`` is enough).

At send time the worker asks :func:`still_eligible` about every bulk message to an
alumnus: someone who withdrew consent, was flagged "do not engage", or whose
country's programme was suspended since the row was queued is skipped, with the
rule's reason (a run that overrode the suspension says so in the row's context).
"""

from __future__ import annotations

from collections.abc import Mapping
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
async def still_eligible(row: OutboxMessage) -> str | None:
    """None when the bulk ``row`` may still go to its alumnus, else the rule's reason."""
    if row.category != Category.BULK or row.recipient_type != "alumnus":
        return None
    if row.recipient_id is None:
        return None
    kind = _kind(row)
    override = bool((row.context or {}).get("override_suspension"))
    # One query in the usual case; the reasons only for someone left out.
    rule = bulk_eligible(kind, override_suspension=override)
    if await Alumnus.filter(rule, id=row.recipient_id).exists():
        return None
    person = await Alumnus.get_or_none(id=row.recipient_id)
    if person is None:
        return Reason.GONE.value
    reasons = await ineligibility(person, kind, override_suspension=override)
    return reasons[0].value if reasons else Reason.NO_CONSENT.value


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
