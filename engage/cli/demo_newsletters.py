"""The demo's newsletters, written by the demo staff member through the services.

::

    added = await seed_demo_newsletters(settings)    # issues and series made; 0 the second time

- **A sent issue**, "Alumni bulletin", to every alumnus who may receive it, with
  the generated sections (upcoming events each may attend, with their RSVP link, and
  alumni news): its copies are written to the outbox like any send, then marked
  delivered a month ago, as the worker would have (with each reader's "newsletter"
  line in their engagement timeline), so the demo's mailbox keeps its welcome and
  invitation emails and the issue's page shows its figures. It is in the archive.
- **A draft** for the senior officers' saved segment, to preview, test and send.
- **A monthly series**, "Monthly alumni bulletin", on the 1st at 09:00 Nairobi time,
  made as drafts for staff to approve.

Run after the other demo steps (accounts, alumni, segments, events, invitations).
Idempotent: nothing is done when the series already exists.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tortoise.transactions import in_transaction

from engage.accounts.actor import load_actor
from engage.accounts.users import find_user
from engage.alumni.engagement import EngagementRecord, record_engagements
from engage.alumni.models import EngagementKind, Segment
from engage.clock import utcnow
from engage.events.timefmt import to_local
from engage.mail.models import OutboxMessage, Status
from engage.newsletters.models import Newsletter, Series
from engage.newsletters.sending import campaign_of, run_send
from engage.newsletters.series import create_series
from engage.newsletters.services import create_newsletter, send_newsletter
from engage.settings import Settings

STAFF = "staff@engage.example"
SERIES_NAME = "Monthly alumni bulletin"
SEGMENT = "Senior officers (OF-5 and above)"
ZONE = "Africa/Nairobi"
#: The sent issue went out this long ago.
SENT_DAYS_AGO = 400

SENT_SUBJECT = 'Alumni bulletin: news for {{ preferred_name | "our graduates" }}'
SENT_BODY = """Dear {{ preferred_name | "colleague" }},

Greetings from the alumni desk. This bulletin gathers what happened since the last
one, and what is coming for the graduates of {{ country | "your country" }}.

## Staying in touch

{{ embassy | "Your embassy" }} keeps the alumni list up to date: if your rank,
position or address changed, sign in and update your profile, so invitations reach
you and your colleagues hear your news.

## From the classes

- The **Command and General Staff** class of 2019 met again in Nairobi.
- The [programme's yearly report](https://example.org/report) is out.

With our best wishes,

The alumni desk
"""
DRAFT_SUBJECT = "An invitation to senior alumni"
DRAFT_BODY = """Dear {{ rank }} {{ preferred_name | "colleague" }},

As one of our senior graduates, we would welcome your advice on the programme's
next steps. Reply to this message to take part in a short conversation.
"""
SERIES_SUBJECT = "Monthly alumni bulletin"
SERIES_BODY = """Dear {{ preferred_name | "colleague" }},

Here is the month's news from the alumni desk, and the events coming up for you.
"""


async def seed_demo_newsletters(settings: Settings) -> int:
    """A sent issue, a draft and a monthly series; how many were made (0 when the
    demo already has them, or has no staff account)."""
    user = await find_user(STAFF)
    if user is None or await Series.exists(name=SERIES_NAME):
        return 0
    staff = await load_actor(user)
    sent = await create_newsletter(
        staff,
        {
            "subject": SENT_SUBJECT,
            "body": SENT_BODY,
            "filter": {},
            "sections": ["events", "news"],
            "events_weeks": 8,
        },
    )
    await send_newsletter(staff, sent.id)
    await run_send(sent.id, owner="demo")
    await _delivered(sent.id, utcnow() - timedelta(days=SENT_DAYS_AGO))
    segment = await Segment.get_or_none(name=SEGMENT)
    audience = {"segment_id": segment.id} if segment is not None else {"filter": {}}
    await create_newsletter(
        staff, {"subject": DRAFT_SUBJECT, "body": DRAFT_BODY, "sections": [], **audience}
    )
    # The first of next month, 09:00 in Nairobi.
    local = to_local(utcnow(), ZONE)
    first = (local.replace(day=1) + timedelta(days=32)).replace(day=1)
    await create_series(
        staff,
        {
            "name": SERIES_NAME,
            "rrule": "FREQ=MONTHLY;BYMONTHDAY=1",
            "starts_at": first.strftime("%Y-%m-%dT09:00"),
            "timezone": ZONE,
            "subject": SERIES_SUBJECT,
            "body": SERIES_BODY,
            "filter": {},
            "sections": ["events", "news"],
        },
    )
    return 3


async def _delivered(newsletter_id: int, at: datetime) -> None:
    """The issue's copies as delivered at ``at`` (what the worker and its on_sent
    listeners would have recorded), the issue dated accordingly."""
    campaign = campaign_of(newsletter_id)
    readers = await OutboxMessage.filter(campaign=campaign, recipient_type="alumnus").values_list(
        "recipient_id", flat=True
    )
    async with in_transaction() as conn:
        await (
            OutboxMessage.filter(campaign=campaign, status=Status.QUEUED)
            .using_db(conn)
            .update(
                status=Status.SENT,
                attempts=1,
                created_at=at,
                queued_at=at,
                next_attempt_at=at,
                last_attempt_at=at,
                sent_at=at,
            )
        )
        await (
            Newsletter.filter(id=newsletter_id)
            .using_db(conn)
            .update(
                created_at=at - timedelta(days=1),
                send_at=at,
                started_at=at,
                finished_at=at + timedelta(minutes=2),
            )
        )
        await record_engagements(
            (
                EngagementRecord(
                    int(pk), EngagementKind.NEWSLETTER, at, ref=("newsletter", newsletter_id)
                )
                for pk in readers
                if pk is not None
            ),
            using_db=conn,
        )
