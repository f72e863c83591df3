"""The suppression list: suppress, lift, which entry stops which mail, the tokens."""

from __future__ import annotations

import pytest

from engage.accounts.actor import load_actor
from engage.accounts.models import AuditEvent, Role
from engage.errors import InvalidInput, NotFound, PermissionDenied
from engage.mail.models import (
    Category,
    Suppression,
    SuppressionReason,
    SuppressionScope,
    Topic,
)
from engage.mail.outbox import enqueue
from engage.mail.suppression import (
    address_key,
    lift_suppression,
    mailto_token,
    message_for_token,
    suppress,
    suppression_for,
    token_row_id,
    unsubscribe_by_token,
    unsubscribe_mailto,
    unsubscribe_token,
    unsubscribe_url,
)
from engage.tokens import make_token

ALL = SuppressionScope.ALL
NEWS = SuppressionScope.NEWSLETTER
INV = SuppressionScope.INVITATIONS
UNSUB = SuppressionReason.UNSUBSCRIBED
BOUNCE = SuppressionReason.HARD_BOUNCE


async def _bulk(to="amani@example.org", topic=Topic.NEWSLETTER, key="b1"):
    queued = await enqueue(
        "test_message", to=to, category=Category.BULK, dedupe_key=key, topic=topic
    )
    return queued.message


def test_address_key_folds_case_and_space():
    assert address_key("  Amani@Example.ORG ") == "amani@example.org"


async def test_suppress_is_idempotent(db):
    assert await suppress("Amani@Example.org", NEWS, UNSUB) is True
    assert await suppress("amani@example.org ", NEWS, UNSUB) is False
    assert await Suppression.filter(address_key="amani@example.org").count() == 1
    # Another scope is another entry.
    assert await suppress("amani@example.org", INV, UNSUB) is True
    assert await Suppression.filter(address_key="amani@example.org").count() == 2


async def test_suppress_refuses_what_is_not_an_address(db):
    with pytest.raises(InvalidInput):
        await suppress("nobody", ALL, UNSUB)


async def test_a_hard_bounce_replaces_a_weaker_reason_on_all(db):
    await suppress("a@example.org", ALL, SuppressionReason.COMPLAINT)
    tx = Category.TRANSACTIONAL
    assert await suppression_for("a@example.org", category=tx, topic=None) is None
    assert await suppress("a@example.org", ALL, BOUNCE, detail="550 5.1.1") is True
    entry = await Suppression.get(address_key="a@example.org")
    assert entry.reason == BOUNCE and entry.detail == "550 5.1.1"
    assert await suppress("a@example.org", ALL, BOUNCE) is False


async def test_which_entry_stops_which_mail(db):
    await suppress("news@example.org", NEWS, UNSUB)
    await suppress("all@example.org", ALL, SuppressionReason.COMPLAINT)
    await suppress("gone@example.org", ALL, BOUNCE)

    def stops(address, category, topic):
        return suppression_for(address, category=category, topic=topic)

    bulk, tx = Category.BULK, Category.TRANSACTIONAL
    # A newsletter unsubscribe stops newsletters only.
    assert await stops("NEWS@example.org", bulk, Topic.NEWSLETTER) is not None
    assert await stops("news@example.org", bulk, Topic.INVITATIONS) is None
    assert await stops("news@example.org", tx, None) is None
    # A complaint stops all bulk mail, not transactional mail.
    assert await stops("all@example.org", bulk, Topic.INVITATIONS) is not None
    assert await stops("all@example.org", bulk, Topic.NEWSLETTER) is not None
    assert await stops("all@example.org", tx, None) is None
    # A hard bounce stops everything.
    assert await stops("gone@example.org", tx, None) is not None
    assert await stops("gone@example.org", bulk, Topic.INVITATIONS) is not None
    # A bulk message without a topic: any entry stops it.
    assert await stops("news@example.org", bulk, None) is not None
    assert await stops("fine@example.org", bulk, None) is None


async def test_lift_is_staff_only_and_audited(db, make_user):
    await suppress("a@example.org", ALL, BOUNCE)
    entry = await Suppression.get(address_key="a@example.org")
    attache = await load_actor(await make_user(role=Role.ATTACHE))
    with pytest.raises(PermissionDenied):
        await lift_suppression(attache, entry.id)
    staff = await load_actor(await make_user(role=Role.STAFF))
    await lift_suppression(staff, entry.id, ip="192.0.2.1")
    assert not await Suppression.exists(id=entry.id)
    audit = await AuditEvent.get(action="mail.suppression_lifted")
    assert audit.target_id == str(entry.id) and audit.details["address"] == "a@example.org"
    assert audit.details["reason"] == "hard_bounce" and audit.ip == "192.0.2.1"
    with pytest.raises(NotFound):
        await lift_suppression(staff, entry.id)


async def test_tokens_name_their_row_and_nothing_else(db, settings):
    row = await _bulk()
    token = unsubscribe_token(settings, row)
    assert token_row_id(settings, token) == row.id
    assert unsubscribe_url(settings, row) == f"{settings.app.base_url}/unsubscribe/{token}"
    short = mailto_token(settings, row)
    assert short == short.lower() and token_row_id(settings, short.upper()) == row.id
    assert unsubscribe_mailto(settings, row) == (
        f"mailto:unsubscribe+{short}@{settings.mail.domain}"
    )
    local = f"unsubscribe+{short}"
    assert len(local) <= 64
    # Forged, another purpose, another row, another version: nothing.
    secret = settings.app.secret_key
    assert token_row_id(settings, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert token_row_id(settings, make_token(secret, "rsvp", row.id, 1)) is None
    assert token_row_id(settings, make_token(secret, "unsubscribe", row.id, 2)) is None
    assert token_row_id(settings, f"{row.id + 1}-{short.split('-')[1]}") is None
    assert token_row_id(settings, "") is None and token_row_id(settings, "x" * 500) is None


async def test_a_transactional_row_has_no_unsubscribe(db, settings):
    queued = await enqueue(
        "test_message", to="a@example.org", category=Category.TRANSACTIONAL, dedupe_key="t1"
    )
    token = unsubscribe_token(settings, queued.message)
    assert await message_for_token(settings, token) is None
    assert await unsubscribe_by_token(settings, token) is None


async def test_unsubscribe_by_token_acts_on_the_rows_topic(db, settings):
    row = await _bulk(to="Amani@Example.org", topic=Topic.NEWSLETTER)
    done = await unsubscribe_by_token(settings, unsubscribe_token(settings, row))
    assert done is not None and done.scope == NEWS and done.created
    again = await unsubscribe_by_token(settings, mailto_token(settings, row))
    assert again is not None and not again.created
    entry = await Suppression.get(address_key="amani@example.org")
    assert entry.scope == NEWS and entry.reason == UNSUB
    assert entry.message_id == row.id  # type: ignore[attr-defined]
    # Without a topic: all bulk mail.
    untyped = await _bulk(to="b@example.org", topic=None, key="b2")
    done = await unsubscribe_by_token(settings, unsubscribe_token(settings, untyped))
    assert done is not None and done.scope == ALL
    assert await unsubscribe_by_token(settings, "1.1.forged") is None
