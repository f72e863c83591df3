from __future__ import annotations

from datetime import UTC, datetime

import pytest

import engage.accounts
import engage.alumni
import engage.events
import engage.invitations
import engage.newsletters  # noqa: F401
from engage.mail.models import Category, OutboxMessage
from engage.mail.render import Renderer, RenderError, template_names
from engage.resources import resource_dir
from tests.conftest import make_settings

NOW = datetime(2026, 11, 29, 18, 30, tzinfo=UTC)


@pytest.fixture
def renderer(tmp_path):
    return Renderer(make_settings("sqlite://:memory:", tmp_path / "var"))


def _row(**kwargs) -> OutboxMessage:
    values = {
        "id": 1,
        "template": "test_message",
        "category": Category.TRANSACTIONAL,
        "to_address": "minh@example.vn",
        "to_name": "Nguyễn Văn Minh",
        "context": {},
        "message_key": "abc123",
        "auto_submitted": True,
    }
    values.update(kwargs)
    return OutboxMessage(**values)


async def test_multipart_alternative_with_utf8_headers(renderer):
    msg = await renderer.render(_row(), now=NOW)
    assert msg.get_content_type() == "multipart/alternative"
    raw = msg.as_bytes()
    assert b"=?utf-8?" in raw  # the non-Latin name is encoded in the To header
    assert str(msg["To"]) == "Nguyễn Văn Minh <minh@example.vn>"
    assert msg["Message-ID"] == "<abc123@engage.localhost>"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Date"] == "Sun, 29 Nov 2026 18:30:00 +0000"
    assert msg["Subject"] == "Test message from Engage"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "Hello Nguyễn Văn Minh," in text
    assert "Hello Nguyễn Văn Minh," in html
    assert html.lstrip().lower().startswith("<!doctype html>")


async def test_html_part_is_escaped_and_text_part_is_not(renderer):
    msg = await renderer.render(_row(context={"note": "<script>x</script> & co"}), now=NOW)
    html = msg.get_body(("html",)).get_content()
    text = msg.get_body(("plain",)).get_content()
    assert "&lt;script&gt;x&lt;/script&gt; &amp; co" in html
    assert "<script>" not in html
    assert "<script>x</script> & co" in text


async def test_no_auto_submitted_when_a_person_sends(renderer):
    msg = await renderer.render(_row(auto_submitted=False), now=NOW)
    assert msg["Auto-Submitted"] is None


async def test_attachments(renderer):
    row = _row(
        context={"attachments": [{"kind": "text", "filename": "directions.txt", "text": "Gate 2"}]}
    )
    msg = await renderer.render(row, now=NOW)
    assert msg.get_content_type() == "multipart/mixed"
    attachments = list(msg.iter_attachments())
    assert [a.get_filename() for a in attachments] == ["directions.txt"]
    assert attachments[0].get_content() == "Gate 2"
    assert msg.get_body(("plain",)) is not None


async def test_missing_template_and_unknown_attachment_are_render_errors(renderer):
    with pytest.raises(RenderError, match="template not found"):
        await renderer.render(_row(template="nope"), now=NOW)
    with pytest.raises(RenderError, match="unknown attachment"):
        await renderer.render(_row(context={"attachments": [{"kind": "zip"}]}), now=NOW)


@pytest.mark.parametrize("name", template_names())
async def test_every_email_template_is_complete_and_renders(renderer, name):
    folder = resource_dir("emails") / name
    for part in ("subject.txt", "body.txt", "body.html"):
        assert (folder / part).is_file(), f"emails/{name}/{part} is missing"
    msg = await renderer.render(_row(template=name), now=NOW)
    assert msg["Subject"] and "\n" not in msg["Subject"]
