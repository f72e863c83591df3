"""What the newsletter email needs at send time (``emails/newsletter``).

The outbox row holds ``{"newsletter": id}`` and the recipient (``("alumnus", id)``);
everything else is read here when the email is sent: the issue's text (rendered
once per text, engage.newsletters.compose), the recipient's placeholder values, the
generated sections (engage.newsletters.sections), the "view in browser" link to the
archive and the unsubscribe link (engage.mail.suppression).

The variables are laid out for the renderer's campaign frames (engage.mail.render):
what differs per recipient is only *printed*, and sits under ``recipient`` (their
name, address, placeholder values ``fills`` and RSVP ``links``) or
``unsubscribe_url``; the rest (the text, the sections as the recipient's group sees
them, the links to the archive) is shared. So a campaign's HTML is laid out and its
CSS inlined once, not once per recipient.

A row with ``"test": true`` is the author's test copy, ``"preview": true`` a page
preview: both get a note in place of the unsubscribe link. A row without a
newsletter id (the template check) renders a sample without touching the database.
"""

from __future__ import annotations

import html
import re
import time
import weakref
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from markupsafe import Markup

from engage.alumni.models import Alumnus, Vetting
from engage.clock import utcnow
from engage.events.models import Event
from engage.i18n import _
from engage.mail.models import Category, OutboxMessage
from engage.mail.render import RenderError, register_context
from engage.mail.suppression import unsubscribe_url
from engage.newsletters.compose import Compiled, compile_issue
from engage.newsletters.models import IssueStatus, Newsletter
from engage.newsletters.sections import (
    Reader,
    alumni_news,
    open_events,
    published_events,
    upcoming_events,
    window,
)
from engage.newsletters.tracking import open_pixel_url, track_links
from engage.places.models import Accreditation
from engage.settings import Settings

#: The folder of ``emails/`` (and the outbox rows' template) of a newsletter.
TEMPLATE = "newsletter"
#: How long the worker keeps what is the same for every recipient.
_TTL_SECONDS = 60.0
#: An issue being sent cannot be edited: it can be kept a while.
_FIXED = frozenset({IssueStatus.SENDING, IssueStatus.PAUSED, IssueStatus.SENT})
#: The news section looks this far back when an issue says nothing (and no issue
#: went out before it).
DEFAULT_NEWS_DAYS = 31
_SAMPLE = {
    "subject": 'News for {{ preferred_name | "colleague" }}',
    "body": (
        'Dear {{ preferred_name | "colleague" }},\n\n'
        "## This month\n\nThe **alumni reception** is coming: see the events below."
    ),
}

#: The issue and recipient a page preview renders (not read from the database: the
#: page may preview changes it has not saved).
_previewing: ContextVar[tuple[Newsletter, Alumnus | None] | None] = ContextVar(
    "newsletter_preview", default=None
)


class _Kept:
    """What the worker keeps a short while (:data:`_TTL_SECONDS`), per database: a
    process (a test run) may serve several, where the same id is another issue."""

    def __init__(self) -> None:
        self._by_db: weakref.WeakKeyDictionary[Any, dict[Hashable, tuple[float, Any]]] = (
            weakref.WeakKeyDictionary()
        )

    def _entries(self) -> dict[Hashable, tuple[float, Any]]:
        db = Newsletter._meta.db
        entries = self._by_db.get(db)
        if entries is None:
            entries = self._by_db[db] = {}
        return entries

    def get(self, key: Hashable) -> Any:
        found = self._entries().get(key)
        return found[1] if found is not None and found[0] > time.monotonic() else None

    def put(self, key: Hashable, value: Any) -> None:
        entries = self._entries()
        if len(entries) > 1024:
            entries.clear()
        entries[key] = (time.monotonic() + _TTL_SECONDS, value)


_kept = _Kept()


def archive_url(settings: Settings, newsletter_id: int) -> str:
    """The issue's page in the web archive (the email's "view in browser" link)."""
    return f"{settings.app.base_url}/newsletters/archive/{newsletter_id}"


@contextmanager
def previewing(issue: Newsletter, person: Alumnus | None) -> Iterator[None]:
    """Render preview rows (``"preview": true``) of ``issue`` for ``person`` (country
    loaded) within the block, as they are, unsaved changes included."""
    token = _previewing.set((issue, person))
    try:
        yield
    finally:
        _previewing.reset(token)


@register_context(TEMPLATE)
async def newsletter_context(row: OutboxMessage, settings: Settings) -> dict[str, Any]:
    """The issue, the recipient's values and sections, and the links."""
    if "newsletter" not in row.context:
        return _sample_context(row, settings)
    shown = _previewing.get() if row.context.get("preview") else None
    person: _Person | None = None
    if shown is not None:
        issue = shown[0]
        person = await _Person.of(shown[1]) if shown[1] is not None else None
    else:
        issue = await _issue(int(row.context["newsletter"]))
        if row.recipient_type == "alumnus" and row.recipient_id is not None:
            person = await _Person.load(int(row.recipient_id))
    real_copy = (
        row.category == Category.BULK
        and row.id is not None
        and not (row.context.get("test") or row.context.get("preview"))
    )
    variables = await issue_context(
        issue,
        person,
        settings=settings,
        row=row,
        unsubscribe=unsubscribe_url(settings, row) if real_copy else None,
        now=utcnow(),
    )
    if real_copy and settings.newsletters.tracking:
        _track(variables, settings, row)
    return variables


@dataclass(frozen=True)
class _Person:
    """What the email needs of its recipient: the placeholders' values and who the
    events section is for (read as plain values: one narrow query per message)."""

    values: dict[str, str]
    reader: Reader

    @classmethod
    async def load(cls, alumnus_id: int) -> _Person | None:
        found = await Alumnus.filter(id=alumnus_id).values(
            "id", "preferred_name", "given_name", "rank", "country_id", "country__name",
            "vetting", "erased_at",
        )  # fmt: skip
        if not found:
            return None
        row = found[0]
        values = {
            "preferred_name": row["preferred_name"] or row["given_name"],
            "rank": row["rank"],
            "country": row["country__name"],
            "embassy": await _embassy_name(row["country_id"]),
        }
        confirmed = row["vetting"] == Vetting.CONFIRMED and row["erased_at"] is None
        return cls(values, Reader(int(row["id"]), str(row["country_id"]), confirmed))

    @classmethod
    async def of(cls, alumnus: Alumnus) -> _Person:
        await alumnus.fetch_related("country")
        return cls(await recipient_values(alumnus), Reader.of(alumnus))


async def issue_context(
    issue: Newsletter,
    person: _Person | None,
    *,
    settings: Settings,
    row: OutboxMessage,
    unsubscribe: str | None,
    now: datetime,
) -> dict[str, Any]:
    """The template's variables for ``person`` (None: a sample recipient)."""
    compiled = compile_issue(issue.subject, issue.body)
    sections = issue.sections or []
    events: list[dict[str, Any]] = []
    links: dict[str, str] = {}
    if person is not None:
        fills = compiled.fills(person.values)
        if "events" in sections:
            events, links = await upcoming_events(
                person.reader,
                weeks=issue.events_weeks,
                now=now,
                settings=settings,
                shared=await _open_events(person.reader, weeks=issue.events_weeks, now=now),
                published=await _published_events(weeks=issue.events_weeks, now=now),
            )
    else:
        fills = compiled.sample_fills()
    news = await _news_for(issue, now=now) if "news" in sections else []
    return _variables(
        compiled,
        fills=fills,
        row=row,
        newsletter={"id": issue.id or 0, "view_url": archive_url(settings, issue.id or 0)},
        sections={"events": events, "news": news},
        links=links,
        unsubscribe=unsubscribe,
    )


_HREF = re.compile(r"""(<a\b[^>]*?\bhref=")([^"]*)(")""", re.IGNORECASE)
_split_links: dict[int, tuple[Any, tuple[dict[str, Any], ...]]] = {}


def _track(variables: dict[str, Any], settings: Settings, row: OutboxMessage) -> None:
    """Tracking on: the body's links go through this copy's signed click redirect and
    the copy carries the open pixel (engage.newsletters.tracking). The tracked
    addresses are personal values (``recipient.links``), so the campaign's frame is
    still shared."""
    parts = _link_parts(variables["body_html"])
    links = variables["recipient"]["links"]
    for part in parts:
        if "link" in part:
            # track_links decides which addresses are tracked (web links, not ours).
            tracked = track_links(part["tag"], settings, row)
            found = _HREF.search(tracked)
            links[part["link"]] = html.unescape(found.group(2)) if found else part["url"]
    variables["body_html"] = parts
    variables["recipient"]["pixel"] = open_pixel_url(settings, row) or ""
    variables["tracking"] = True


def _link_parts(parts: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], ...]:
    """The body's HTML parts with each link's address made a part of its own."""
    kept = _split_links.get(id(parts))
    if kept is not None and kept[0] is parts:
        return kept[1]
    found: list[dict[str, Any]] = []
    n = 0
    for part in parts:
        if "html" not in part:
            found.append(part)
            continue
        text, last = str(part["html"]), 0
        for match in _HREF.finditer(text):
            found.append({"html": Markup(text[last : match.end(1)])})  # noqa: S704
            url = html.unescape(match.group(2))
            found.append({"link": f"u{n}", "url": url, "tag": f'<a href="{match.group(2)}"'})
            n += 1
            last = match.start(3)
        found.append({"html": Markup(text[last:])})  # noqa: S704 (sanitised Markdown)
    if len(_split_links) > 64:
        _split_links.clear()
    _split_links[id(parts)] = (parts, tuple(found))
    return tuple(found)


def _variables(
    compiled: Compiled,
    *,
    fills: dict[str, str],
    row: OutboxMessage,
    newsletter: dict[str, Any],
    sections: dict[str, list[dict[str, Any]]],
    links: dict[str, str],
    unsubscribe: str | None,
) -> dict[str, Any]:
    return {
        "newsletter": newsletter,
        "subject_parts": compiled.subject,
        "body_html": compiled.html,
        "body_text": compiled.text,
        "sections": sections,
        "recipient": {
            "name": row.to_name,
            "address": row.to_address,
            "fills": fills,
            "links": links,
        },
        # Printed only when the row is a real bulk copy (``copy`` says which).
        "unsubscribe_url": unsubscribe or "",
        "copy": "bulk" if unsubscribe else ("test" if row.context.get("test") else "preview"),
        "subject_prefix": _("[Test] ") if row.context.get("test") else "",
        "tracking": False,
    }


def _sample_context(row: OutboxMessage, settings: Settings) -> dict[str, Any]:
    compiled = compile_issue(_SAMPLE["subject"], _SAMPLE["body"])
    sample_event = {
        "title": "Alumni reception",
        "when": "Friday 27 March 2026, 18:00 Riga time (UTC+2)",
        "where": "The Residence, Riga",
        "online": False,
        "embassy": "Embassy in Riga",
        "invited": True,
        "answered": False,
        "link": "e1",
        "url": f"{settings.app.base_url}/events/1",
    }
    news = {
        "name": "Amani Wanjiru",
        "country": "Kenya",
        "rank": "Colonel",
        "position": "Commandant, Defence Staff College",
        "since": "1 March 2026",
    }
    return _variables(
        compiled,
        fills={"v0": "Amani"},
        row=row,
        newsletter={"id": 0, "view_url": archive_url(settings, 0)},
        sections={"events": [sample_event], "news": [news]},
        links={"e1": f"{settings.app.base_url}/rsvp/sample"},
        unsubscribe=f"{settings.app.base_url}/unsubscribe/sample",
    )


async def recipient_values(person: Alumnus) -> dict[str, str]:
    """The placeholder values of ``person`` (country loaded)."""
    country = person.country
    return {
        "preferred_name": person.preferred_name or person.given_name,
        "rank": person.rank,
        "country": country.name,
        "embassy": await _embassy_name(country.code),
    }


async def _issue(newsletter_id: int) -> Newsletter:
    kept = _kept.get(("issue", newsletter_id))
    if kept is not None:
        return kept  # type: ignore[no-any-return]
    issue = await Newsletter.get_or_none(id=newsletter_id)
    if issue is None:
        raise RenderError(f"{TEMPLATE}: newsletter {newsletter_id} no longer exists")
    if issue.status in _FIXED:
        _kept.put(("issue", newsletter_id), issue)
    return issue


async def _embassy_name(country_code: str) -> str:
    """The embassy serving a country: the one in it, else the first by code ("")."""
    kept = _kept.get(("embassy", country_code))
    if kept is not None:
        return str(kept)
    rows = await (
        Accreditation.filter(country_id=country_code)
        .order_by("embassy__code")
        .values("embassy__name", "embassy__country_id")
    )
    inside = [r for r in rows if r["embassy__country_id"] == country_code]
    chosen = (inside or rows or [{"embassy__name": ""}])[0]
    name = str(chosen["embassy__name"] or "")
    _kept.put(("embassy", country_code), name)
    return name


async def _open_events(reader: Reader, *, weeks: int, now: datetime) -> list[Event]:
    """The open events of the reader's country, kept a minute (a little further ahead
    than the window, which upcoming_events applies)."""
    key = ("open-events", reader.country_id, reader.confirmed, weeks)
    kept = _kept.get(key)
    if kept is None:
        ahead = now + timedelta(seconds=2 * _TTL_SECONDS)
        kept = await open_events(reader, now=now, until=window(weeks, ahead))
        _kept.put(key, kept)
    return kept  # type: ignore[no-any-return]


async def _published_events(*, weeks: int, now: datetime) -> list[Event]:
    """Every published event in the window, kept a minute (like :func:`_open_events`)."""
    key = ("published-events", weeks)
    kept = _kept.get(key)
    if kept is None:
        ahead = now + timedelta(seconds=2 * _TTL_SECONDS)
        kept = await published_events(now=now, until=window(weeks, ahead))
        _kept.put(key, kept)
    return kept  # type: ignore[no-any-return]


async def news_start(issue: Newsletter) -> datetime:
    """Since when the news section reports: the issue's ``news_since``, else the start
    of the last issue sent before it, else :data:`DEFAULT_NEWS_DAYS` days back."""
    if issue.news_since is not None:
        return issue.news_since
    before = issue.started_at or utcnow()
    previous = await (
        Newsletter.filter(started_at__lt=before, status=IssueStatus.SENT)
        .exclude(id=issue.id)
        .order_by("-started_at")
        .first()
        .values_list("started_at", flat=True)
    )
    if isinstance(previous, datetime):
        return previous
    return before - timedelta(days=DEFAULT_NEWS_DAYS)


async def _news_for(issue: Newsletter, *, now: datetime) -> list[dict[str, Any]]:
    since = await news_start(issue) if issue.news_since is None else issue.news_since
    key = ("news", issue.id, since)
    kept = _kept.get(key)
    if kept is not None:
        return kept  # type: ignore[no-any-return]
    news = await alumni_news(since, now=now)
    _kept.put(key, news)
    return news
