"""An event's emails come From the embassy's alumni desk, Reply-To a person."""

from __future__ import annotations

from datetime import UTC, datetime

import jinja2
import pytest

from engage.accounts.models import Role
from engage.events.models import Event
from engage.events.sender import sender_for
from engage.mail import render
from engage.mail.models import Category, OutboxMessage
from engage.mail.outbox import enqueue
from engage.mail.render import Renderer

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
PROBE = "event_sender_probe"


@pytest.fixture
async def riga(db, make_embassy):
    return await make_embassy(code="RIX", country="LV", timezone="Europe/Riga", city="Riga")


@pytest.fixture
async def people(db, make_user):
    creator = await make_user(role=Role.ATTACHE, email="creator@rix.example.org", embassies=["RIX"])
    contact = await make_user(role=Role.ATTACHE, email="Ilze@rix.example.org", embassies=["RIX"])
    return creator, contact


async def test_from_the_desk_reply_to_the_contact_else_the_creator(
    riga, people, make_event, settings
):
    creator, contact = people
    event = await make_event(riga, created_by=creator, contact=contact)
    sender = await sender_for(event, settings)
    assert sender == {
        "name": "Embassy RIX alumni desk",
        "address": f"alumni-rix@{settings.mail.domain}",
        "reply_to": "Ilze@rix.example.org",
        "reply_to_name": "",
    }
    event.contact_id = None
    assert (await sender_for(event, settings))["reply_to"] == "creator@rix.example.org"
    event.created_by_id = None
    assert (await sender_for(event, settings))["reply_to"] == ""


async def test_the_embassy_may_name_its_desk(riga, people, make_event, settings):
    riga.sender_name = "Alumni desk, Embassy in Riga"
    await riga.save()
    event = await make_event(riga, created_by=people[0])
    assert (await sender_for(event, settings))["name"] == "Alumni desk, Embassy in Riga"


@pytest.fixture
def probe_template(tmp_path):
    """A message whose context loader returns sender_for(event), as event emails do."""
    folder = tmp_path / "emails" / PROBE
    folder.mkdir(parents=True)
    (folder / "subject.txt").write_text("About {{ title }}\n")
    (folder / "body.txt").write_text("Hello {{ recipient.name }}, {{ title }}.\n")
    (folder / "body.html").write_text("<p>Hello {{ recipient.name }}, {{ title }}.</p>\n")

    async def load(row: OutboxMessage, settings) -> dict:
        event = await Event.get(id=row.context["event"])
        return {"title": event.title, "sender": await sender_for(event, settings)}

    render.register_context(PROBE)(load)
    yield tmp_path / "emails"
    render._CONTEXT.pop(PROBE, None)


async def test_rendered_headers(riga, people, make_event, settings, probe_template):
    creator, contact = people
    event = await make_event(riga, title="Midsummer reception", created_by=creator, contact=contact)
    queued = await enqueue(
        PROBE,
        to="amani@example.org",
        to_name="Amani Wanjiru",
        category=Category.BULK,
        dedupe_key=f"probe:{event.id}",
        context={"event": event.id},
    )
    row = await OutboxMessage.get(id=queued.message.id)
    renderer = Renderer(settings)
    renderer.env.loader = jinja2.ChoiceLoader(
        [jinja2.FileSystemLoader(probe_template), renderer.env.loader]
    )
    message = await renderer.render(row, now=NOW)
    assert message["From"] == f"Embassy RIX alumni desk <alumni-rix@{settings.mail.domain}>"
    assert message["Reply-To"] == "Ilze@rix.example.org"
    assert message["To"] == "Amani Wanjiru <amani@example.org>"
    assert message["Subject"] == "About Midsummer reception"
