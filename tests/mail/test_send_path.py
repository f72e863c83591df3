"""The send path: a campaign's shared part rendered once, only the personal parts per
recipient, and the wire bytes equal to the message the email package would build.

The bulk templates (invitation, event_reminder, invitee_message) are rendered for
people whose names need escaping or encoding, once through the campaign's frame and
the wire assembly (``Renderer.render_bytes``) and once whole (``Renderer.render`` of
the same row without a campaign), and the two must say the same thing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from email import message_from_bytes, policy

import css_inline
import jinja2
import pytest
from markdown_it import MarkdownIt

import engage.events  # registers the calendar attachment
import engage.invitations.emails  # registers the loaders
import engage.invitations.message_emails
from engage.invitations.models import Invitation, InvitationStatus, InviteeMessage
from engage.mail.frames import UNFRAMED, Frame, PersonalValueUsed, mark
from engage.mail.models import Category, OutboxMessage, Topic
from engage.mail.outbox import enqueue
from engage.mail.render import Renderer
from engage.mail.transport import MemoryTransport
from engage.worker.runner import Worker
from tests.events import conftest as _events

make_event = _events.make_event
make_alumnus = _events.make_alumnus

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
NAMES = [
    ("D'Arcy", "Mensah"),  # first: the frame's check must not refuse an escaped name
    ("Seán", "O'Brien & <Sons>"),
    ("Нурлан", "Абенов"),
    ("Minh", "Nguyễn Văn"),
]
_normal = css_inline.CSSInliner(load_remote_stylesheets=False)


def _parsed(data: bytes):
    return message_from_bytes(data, policy=policy.SMTP)


def _summary(msg) -> dict:
    """What a reader gets: headers by value, the decoded parts, attachments."""
    html = msg.get_body(("html",)).get_content()
    return {
        "headers": {
            name: str(msg[name])
            for name in (
                "From",
                "Reply-To",
                "To",
                "Subject",
                "Date",
                "Message-ID",
                "Auto-Submitted",
                "List-Unsubscribe",
                "List-Unsubscribe-Post",
            )
        },
        "text": msg.get_body(("plain",)).get_content(),
        # Both are valid HTML for the same document; the serialisations of escapes
        # differ (&#39; or '), so compare them as css-inline (html5ever) writes them.
        "html": _normal.inline(html),
        "attachments": [
            (part.get_filename(), part.get_content_type(), _undated(part.get_content()))
            for part in msg.iter_attachments()
        ],
    }


def _undated(content: str | bytes) -> str:
    """An attachment's text without its time of making (a calendar's DTSTAMP)."""
    text = content.decode() if isinstance(content, bytes) else content
    return "\n".join(line for line in text.splitlines() if not line.startswith("DTSTAMP"))


@pytest.fixture
async def invited(db, make_embassy, make_event, make_alumnus):
    """A published event with a Markdown description and one invitation per name."""
    embassy = await make_embassy(code="RIX", country="LV", timezone="Europe/Riga")
    event = await make_event(
        embassy,
        title="Spring reception",
        description=f"Drinks and a short address by the **ambassador**. {uuid.uuid4().hex}",
    )
    invitations = []
    for given, family in NAMES:
        alumnus = await make_alumnus(given_name=given, family_name=family, country="LV")
        invitations.append(await Invitation.create(event=event, alumnus=alumnus, invited_at=NOW))
    return event, invitations


async def _row(template: str, invitation: Invitation, *, campaign: str | None, **context):
    alumnus = await invitation.alumnus
    enqueued = await enqueue(
        template,
        to=alumnus.email,
        to_name=f"{alumnus.given_name} {alumnus.family_name}",
        category=Category.BULK,
        topic=Topic.INVITATIONS,
        campaign=campaign,
        dedupe_key=f"{template}:{campaign}:{invitation.id}:{uuid.uuid4().hex}",
        context={"invitation": invitation.id, **context},
        now=NOW,
    )
    return enqueued.message


async def _check_same_as_whole(renderer: Renderer, template: str, invitations, **context):
    campaign = f"test:{uuid.uuid4().hex[:8]}"
    for invitation in invitations:
        framed = await _row(template, invitation, campaign=campaign, **context)
        whole = await _row(template, invitation, campaign=None, **context)
        whole.message_key = framed.message_key  # the same Message-ID for the comparison
        whole.dedupe_key = framed.dedupe_key  # and the same unsubscribe token
        whole.id = framed.id
        sent = _summary(_parsed(await renderer.render_bytes(framed, now=NOW)))
        whole_msg = await Renderer(renderer.settings).render(whole, now=NOW)
        expected = _summary(_parsed(whole_msg.as_bytes(policy=policy.SMTP)))
        assert sent == expected, template
        alumnus = await invitation.alumnus
        assert alumnus.given_name in sent["text"]
        assert alumnus.given_name in sent["html"]


async def test_invitations_from_the_frame_equal_whole_renderings(settings, invited):
    event, invitations = invited
    renderer = Renderer(settings)
    ics = [{"kind": "event_ics", "event": event.id, "method": "REQUEST"}]

    await _check_same_as_whole(renderer, "invitation", invitations, attachments=ics)

    assert renderer.counts["frames"] == 1  # one frame for the whole campaign
    assert renderer.counts["filled"] == len(invitations)


async def test_reminders_by_answer_and_invitee_messages_equal_whole_renderings(
    settings, invited, make_user
):
    event, invitations = invited
    await Invitation.filter(id=invitations[1].id).update(status=InvitationStatus.YES)
    author = await make_user()
    message = await InviteeMessage.create(
        event=event,
        subject="Parking",
        body=f"Use **gate 2** and [the map](https://example.org/map). {uuid.uuid4().hex}",
        statuses=["coming"],
        created_by=author,
    )
    renderer = Renderer(settings)

    await _check_same_as_whole(renderer, "event_reminder", invitations)
    await _check_same_as_whole(renderer, "invitee_message", invitations, message=message.id)

    # A reminder says different things to those invited and those coming, so the
    # answer (what the loaders give as "invitation") is part of a frame's key: one
    # frame per answer and template.
    assert renderer.counts["frames"] == 4


async def test_the_shared_part_is_rendered_once_for_a_campaign(
    settings, invited, make_user, monkeypatch
):
    """30 recipients of one message to invitees: the templates (layout included), the
    CSS inlining and the Markdown of the body and of the event's description run once
    for the campaign (plus one whole rendering that checks the frame); each message
    still carries its own name and link."""
    event, invitations = invited
    message = await InviteeMessage.create(
        event=event,
        subject="After the reception",
        body=f"Thank you for coming. Tell us [what you thought](https://example.org/s). "
        f"{uuid.uuid4().hex}",  # a text no other test rendered (the cache is per process)
        statuses=["coming"],
    )
    renders: list[str] = []
    inlined: list[int] = []
    parsed: list[str] = []
    original_render = Renderer._render
    original_inline = css_inline.CSSInliner.inline
    original_parse = MarkdownIt.render

    def counting_render(self, name, variables):
        renders.append(name)
        return original_render(self, name, variables)

    class CountingInliner:
        def inline(self, html):
            inlined.append(1)
            return original_inline(self._real, html)

        def __init__(self):
            self._real = css_inline.CSSInliner(load_remote_stylesheets=False)

    def counting_parse(self, source, env=None):
        parsed.append(source)
        return original_parse(self, source, env)

    senders: list[int] = []
    original_sender = engage.invitations.emails.sender_for

    async def counting_sender(event, settings):
        senders.append(event.id)
        return await original_sender(event, settings)

    monkeypatch.setattr(engage.invitations.emails, "sender_for", counting_sender)
    monkeypatch.setattr(Renderer, "_render", counting_render)
    monkeypatch.setattr(MarkdownIt, "render", counting_parse)
    renderer = Renderer(settings)
    renderer._inliner = CountingInliner()
    transport = MemoryTransport()
    worker = Worker(settings, transport, owner="w", concurrency=1)

    people = [invitations[i % len(invitations)] for i in range(30)]
    rows = [
        await _row("invitee_message", inv, campaign="message:1", message=message.id)
        for inv in people
    ]
    worker.renderer = renderer
    await worker.run_until_empty()

    assert len(transport.sent) == len(rows) == 30
    assert renders.count("invitee_message/body.html") == 2  # the frame, and the check
    assert renders.count("invitee_message/subject.txt") == 2
    assert len(inlined) <= 4  # the frame, the check, and comparing the two
    assert len(parsed) == 2  # the message's body and the event's description, once each
    assert renderer.counts == {"frames": 1, "full": 1, "filled": 30}
    # Lookups the same for everyone (the sender, the embassy, the message) are reused
    # (for a few seconds), not made per message.
    assert len(senders) <= 2
    for msg, invitation in zip(transport.sent, people, strict=True):
        alumnus = await invitation.alumnus
        text = msg.get_body(("plain",)).get_content()
        assert f"Dear {alumnus.given_name}," in text
        assert "what you thought" in text
        assert str(msg["To"]).endswith(f"<{alumnus.email}>")

    # Transactional mail (no campaign) is rendered whole, message by message.
    renders.clear()
    for invitation in invitations:
        row = await _row("invitee_message", invitation, campaign=None, message=message.id)
        await renderer.render_bytes(row, now=NOW)
    assert renders.count("invitee_message/body.html") == len(invitations)


async def test_a_personal_value_in_a_condition_or_a_filter_is_rendered_per_recipient(settings, db):
    renderer = Renderer(settings)
    renderer.env.loader = jinja2.ChoiceLoader(
        [
            jinja2.DictLoader(
                {
                    "cond/subject.txt": "{% if name == 'Ama' %}For Ama{% else %}Hi{% endif %}",
                    "cond/body.txt": "Dear {{ name }}",
                    "cond/body.html": "<p>Dear {{ name }}</p>",
                    "upper/subject.txt": "Hello",
                    "upper/body.txt": "Dear {{ name | title }}",
                    "upper/body.html": "<p>Dear {{ name | title }}</p>",
                }
            ),
            renderer.env.loader,
        ]
    )
    for template, names, expected in [
        ("cond", ["Ama", "Kofi"], ["For Ama", "Hi"]),
        ("upper", ["kofi", "ama"], ["Hello", "Hello"]),
    ]:
        for name, subject in zip(names, expected, strict=True):
            row = OutboxMessage(
                template=template,
                category=Category.BULK,
                campaign="c:1",
                to_address=f"{name.lower()}@example.org",
                to_name=name,
                context={"name": name},
                message_key=uuid.uuid4().hex,
                dedupe_key=uuid.uuid4().hex,
                auto_submitted=True,
            )
            row.id = 1
            msg = _parsed(await renderer.render_bytes(row, now=NOW))
            assert msg["Subject"] == subject
            assert msg.get_body(("plain",)).get_content().strip() == f"Dear {name.title()}"
    assert renderer.counts["frames"] == 1  # only "upper" made one, which its check refused
    assert renderer.counts["filled"] == 0


def test_a_marker_refuses_anything_but_being_printed():
    marked, slots, kept = mark({"name": "Ama", "guests": 2, "flag": True, "x": {"y": "z"}})

    assert slots == [2, "Ama", "z"]  # by name: guests, name, x.y
    assert kept == (("flag", ("bool", True)),)
    for use in (
        lambda m: m == "Ama",
        lambda m: bool(m),
        lambda m: len(m),
        lambda m: m.upper(),
        lambda m: m[0],
        lambda m: f"{m:>10}",
    ):
        with pytest.raises(PersonalValueUsed):
            use(marked["name"])
    frame = Frame("Hi " + marked["name"], str(marked["x"]["y"]), f"<b>{marked['name']}</b>")
    assert frame.fill([2, "A&B", "z"]) == ("Hi A&B", "z", "<b>A&amp;B</b>")
    assert UNFRAMED.fill([]) == ("", "", "")
