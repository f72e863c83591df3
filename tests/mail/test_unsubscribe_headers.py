"""List-Unsubscribe (an https link and a mailto) and List-Unsubscribe-Post on every
bulk message, whatever its template, and on no transactional one; the footer links
to the preference page in bulk mail only. Each recipient of a campaign gets their
own link (the campaign's shared frame never carries one person's token)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

import engage.accounts
import engage.alumni
import engage.events
import engage.invitations
import engage.newsletters  # noqa: F401  (their emails' context loaders)
from engage.mail.models import Category, OutboxMessage, Topic
from engage.mail.render import Renderer, template_names
from engage.mail.suppression import token_row_id, unsubscribe_mailto, unsubscribe_url
from tests.conftest import make_settings

NOW = datetime(2026, 11, 29, 18, 30, tzinfo=UTC)
#: What the bulk enqueuers send (invite runs, reminders, messages to invitees,
#: newsletters); tests/mail/test_unsubscribe_e2e.py drives the real enqueuers.
BULK_TEMPLATES = {"invitation", "event_reminder", "invitee_message", "newsletter"}
#: Templates whose context loader shows a sample link for a row without its ids
#: (the newsletter's real copies: tests/mail/test_unsubscribe_e2e.py).
SAMPLE_LINK = {"newsletter"}
_LINKS = re.compile(r"^<(https?://[^>]+)>, <(mailto:[^>]+)>$")


@pytest.fixture
def settings(tmp_path):
    return make_settings("sqlite://:memory:", tmp_path / "var")


@pytest.fixture
def renderer(settings):
    return Renderer(settings)


def _row(template: str, category: Category, *, row_id: int = 41, **kwargs) -> OutboxMessage:
    topic = Topic.INVITATIONS if category is Category.BULK else None
    values = {
        "id": row_id,
        "template": template,
        "category": category,
        "topic": topic,
        "to_address": f"person{row_id}@example.org",
        "to_name": "Amani Wanjiru",
        "context": {},
        "message_key": f"key{row_id}",
        "auto_submitted": True,
    }
    values.update(kwargs)
    return OutboxMessage(**values)


def test_the_bulk_templates_exist():
    assert set(template_names()) >= BULK_TEMPLATES


@pytest.mark.parametrize("name", template_names())
async def test_bulk_mail_carries_the_headers_whatever_the_template(renderer, settings, name):
    row = _row(name, Category.BULK)
    msg = await renderer.render(row, now=NOW)
    header = " ".join(str(msg["List-Unsubscribe"]).split())  # unfolded
    match = _LINKS.match(header)
    assert match, header
    assert match.group(1) == unsubscribe_url(settings, row)
    assert match.group(2) == unsubscribe_mailto(settings, row)
    assert token_row_id(settings, match.group(1).rsplit("/", 1)[1]) == row.id
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # And the footer of both parts links to the preference page (the newsletter's
    # sample, for a row that names no issue, shows a sample link).
    link = unsubscribe_url(settings, row) if name not in SAMPLE_LINK else "/unsubscribe/sample"
    assert link in msg.get_body(("plain",)).get_content()
    assert link in msg.get_body(("html",)).get_content()


@pytest.mark.parametrize("name", sorted(set(template_names()) - BULK_TEMPLATES))
async def test_transactional_mail_never_does(renderer, name):
    msg = await renderer.render(_row(name, Category.TRANSACTIONAL), now=NOW)
    assert msg["List-Unsubscribe"] is None
    assert msg["List-Unsubscribe-Post"] is None
    text = msg.get_body(("plain",)).get_content()
    assert "/unsubscribe/" not in text and "unsubscribe" not in text.lower()
    assert "/unsubscribe/" not in msg.get_body(("html",)).get_content()


@pytest.mark.parametrize("name", sorted(BULK_TEMPLATES - SAMPLE_LINK))
async def test_each_recipient_of_a_campaign_gets_their_own_link(renderer, settings, name):
    rows = [_row(name, Category.BULK, row_id=n, campaign="invite:7") for n in (51, 52, 53)]
    for row in rows:
        data = await renderer.render_bytes(row, now=NOW)
        own, others = (
            unsubscribe_url(settings, row),
            [unsubscribe_url(settings, r) for r in rows if r is not row],
        )
        assert own.encode() in data.replace(b"=\r\n", b"")
        for other in others:
            assert other.encode() not in data.replace(b"=\r\n", b"")
    # The copies were filled in from one shared frame, the link among the personal parts.
    assert renderer.counts["frames"] == 1 and renderer.counts["filled"] == len(rows)
