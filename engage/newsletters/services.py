"""Newsletters for staff: write an issue, preview it, see who it reaches, test it,
send it now or at a time, pause and resume it, and follow it.

::

    body = 'Dear {{ preferred_name | "colleague" }}, ...'      # Markdown
    issue = await create_newsletter(
        staff, {"subject": "News", "body": body, "segment_id": 4, "sections": ["events", "news"]}
    )
    preview = await render_preview(issue, recipient=person, settings=settings)
    preview.subject, preview.html, preview.text     # as the recipient will see them
    counts = await audience_count(staff, issue)     # AudiencePreview(recipients, skipped, total)
    await send_test(staff, issue.id, settings)      # one copy to the author
    await send_newsletter(staff, issue.id)          # now (the run writes the outbox rows)
    await send_newsletter(staff, issue.id, send_at=datetime(2026, 3, 2, 9, 0))   # their zone
    await pause_newsletter(staff, issue.id); await resume_newsletter(staff, issue.id)
    await run_send(issue.id, owner="worker-1")      # engage.newsletters.sending
    await newsletter_stats(staff, issue.id)

The rules:

- **Staff and admins only**: anyone else gets 403; an unknown issue 404.
- **Text**: the subject and the Markdown body may hold placeholders
  (engage.newsletters.placeholders); an unknown or malformed one is an error naming
  it, when the issue is saved and again before it is sent. Recipients' values are
  never run as a template, and the Markdown is sanitised (engage.newsletters.compose).
- **Editing** is for drafts and scheduled issues; once sending starts the issue is
  fixed (409).
- **Sending**: now (status ``sending``: a run writes the outbox rows, see
  engage.newsletters.sending, started by whoever asked and by the scheduler), or at
  ``send_at`` (``scheduled``), a wall-clock time in the author's zone
  (``User.timezone``) unless it carries an offset. Asking to send an issue that is
  already sending or sent changes nothing; sending a paused one resumes it.
- **Who receives it**: the audience (saved segment or filter) narrowed by the one
  eligibility rule; :func:`audience_count` gives the same number the directory gives
  for that filter with the rule applied, and who is left out by reason.
- Creating, changing, sending, pausing, resuming and tests are audit-logged
  (``newsletter.*``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tortoise.transactions import in_transaction

from engage.accounts.actor import Actor, require_role
from engage.accounts.audit import record
from engage.accounts.models import Role
from engage.alumni.models import Alumnus
from engage.alumni.profiles import clean_text, parse_id
from engage.clock import utcnow
from engage.errors import Conflict, InvalidInput, NotFound
from engage.events.services import alumnus_for_user
from engage.events.timefmt import parse_local, to_utc
from engage.i18n import _
from engage.mail.models import Category, OutboxMessage
from engage.mail.outbox import enqueue
from engage.mail.render import Renderer
from engage.newsletters import emails
from engage.newsletters.compose import compile_issue
from engage.newsletters.models import IssueStatus, Newsletter
from engage.newsletters.placeholders import check_placeholders, placeholder_errors
from engage.newsletters.sections import MAX_WEEKS, SECTIONS
from engage.newsletters.sending import (
    NewsletterAudience,
    audience_people,
    due_newsletters,
    eligible,
    fixed_people,
    run_send,
    skipped_by_reason,
)
from engage.newsletters.stats import issue_stats
from engage.settings import Settings

__all__ = [
    "AudiencePreview",
    "Preview",
    "audience_count",
    "check_placeholders",
    "count_newsletters",
    "create_newsletter",
    "due_newsletters",
    "get_newsletter",
    "list_newsletters",
    "newsletter_stats",
    "pause_newsletter",
    "placeholder_errors",
    "render_preview",
    "resume_newsletter",
    "run_send",
    "sample_recipient",
    "send_newsletter",
    "send_test",
    "unschedule_newsletter",
    "update_newsletter",
]

SUBJECT_MAX = 200
BODY_MAX = 50_000
#: The fields an issue is created from (``segment_id`` or ``filter`` give the audience).
FIELDS = frozenset(
    {"subject", "body", "segment_id", "filter", "audience", "sections", "events_weeks",
     "news_since"}
)  # fmt: skip
#: Whom an issue is still editable in.
EDITABLE = (IssueStatus.DRAFT, IssueStatus.SCHEDULED)


@dataclass(frozen=True)
class Preview:
    """An issue as one recipient will see it: the subject, the HTML part (a whole
    document, CSS inlined) and the plain-text part."""

    subject: str
    html: str
    text: str


@dataclass(frozen=True)
class AudiencePreview:
    """How many will receive the issue, and how many of its audience are left out
    by reason (only reasons that apply). ``total`` is the audience before the rule
    (the directory's count for the filter)."""

    recipients: int
    skipped: dict[str, int] = field(default_factory=dict)
    total: int = 0


def _invalid(errors: dict[str, str]) -> InvalidInput:
    return InvalidInput(_("Please correct the marked fields."), fields=errors)


# --- Reading ----------------------------------------------------------------------------


async def get_newsletter(actor: Actor, newsletter_id: object) -> Newsletter:
    """One issue (its author and series loaded); 404 when there is none."""
    require_role(actor, Role.STAFF)
    pk = parse_id(newsletter_id)
    issue = (
        None
        if pk is None or pk > 2**63 - 1
        else await Newsletter.get_or_none(id=pk).select_related("created_by", "series")
    )
    if issue is None:
        raise NotFound(_("No such newsletter."))
    return issue


async def list_newsletters(
    actor: Actor, *, status: IssueStatus | str | None = None, limit: int = 50, offset: int = 0
) -> list[Newsletter]:
    """Issues, newest first (author loaded), optionally of one status."""
    query = _listing(actor, status)
    return (
        await query.select_related("created_by")
        .order_by("-created_at", "-id")
        .offset(max(0, int(offset)))
        .limit(max(0, min(int(limit), 200)))
    )


async def count_newsletters(actor: Actor, *, status: IssueStatus | str | None = None) -> int:
    """How many issues :func:`list_newsletters` selects in all (for paging)."""
    return await _listing(actor, status).count()


def _listing(actor: Actor, status: IssueStatus | str | None) -> Any:
    require_role(actor, Role.STAFF)
    query = Newsletter.all()
    if status:
        try:
            query = query.filter(status=IssueStatus(status))
        except ValueError:
            raise _invalid({"status": _("Unknown status.")}) from None
    return query


# --- Writing ----------------------------------------------------------------------------


async def create_newsletter(actor: Actor, data: Mapping[str, Any], *, ip: str = "") -> Newsletter:
    """A new draft from ``subject``, ``body`` (Markdown), the audience (``segment_id``
    or ``filter``, or ``audience``), and optionally ``sections`` (["events", "news"]),
    ``events_weeks`` and ``news_since``. Raises InvalidInput naming each bad field,
    NotFound for a segment or embassy out of reach."""
    require_role(actor, Role.STAFF)
    values = await _clean(actor, data, creating=True)
    async with in_transaction() as conn:
        issue = await Newsletter.create(**values, created_by=actor.user, using_db=conn)
        await record(
            "newsletter.create",
            actor=actor.user,
            target=("newsletter", issue.id),
            details={"fields": sorted(values)},
            ip=ip,
            using_db=conn,
        )
    return await get_newsletter(actor, issue.id)


async def update_newsletter(
    actor: Actor, newsletter_id: object, changes: Mapping[str, Any], *, ip: str = ""
) -> Newsletter:
    """Change some fields of a draft or scheduled issue (409 once sending started)."""
    issue = await get_newsletter(actor, newsletter_id)
    values = await _clean(actor, changes, creating=False, issue=issue)
    changed = [name for name, value in values.items() if getattr(issue, name) != value]
    if not changed:
        return issue
    async with in_transaction() as conn:
        updated = await (
            Newsletter.filter(id=issue.id, status__in=list(EDITABLE))
            .using_db(conn)
            .update(**{name: values[name] for name in changed}, updated_at=utcnow())
        )
        if not updated:
            raise Conflict(_("This newsletter is being sent or was sent: it can no longer change."))
        await record(
            "newsletter.update",
            actor=actor.user,
            target=("newsletter", issue.id),
            details={"changed": sorted(changed)},
            ip=ip,
            using_db=conn,
        )
    return await get_newsletter(actor, issue.id)


async def _clean(
    actor: Actor, data: Mapping[str, Any], *, creating: bool, issue: Newsletter | None = None
) -> dict[str, Any]:
    """The checked values of ``data``; InvalidInput names every bad field at once."""
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        raise _invalid({name: _("Unknown field.") for name in unknown})
    if issue is not None and issue.status not in EDITABLE:
        raise Conflict(_("This newsletter is being sent or was sent: it can no longer change."))
    errors: dict[str, str] = {}
    values = await check_content(actor, data, errors, creating=creating)
    if "news_since" in data:
        values["news_since"] = _instant(data["news_since"], actor, "news_since", errors)
    body_after = values.get("body", issue.body if issue else "")
    sections_after = values.get("sections", issue.sections if issue else [])
    if not body_after and not sections_after and "body" not in errors:
        errors["body"] = _("Write the newsletter, or include a generated section.")
    if errors:
        raise _invalid(errors)
    return values


async def check_content(
    actor: Actor,
    data: Mapping[str, Any],
    errors: dict[str, str],
    *,
    creating: bool,
    segment_out_of_reach_is_error: bool = False,
) -> dict[str, Any]:
    """The checked subject, body, audience, sections and events window in ``data``
    (those given, or all when ``creating``), for an issue and for a series alike:
    placeholders known, lengths, the audience within reach, known sections. Problems
    go into ``errors`` by field. A saved segment out of reach answers 404, or is a
    field error with ``segment_out_of_reach_is_error``."""
    values: dict[str, Any] = {}
    if creating or "subject" in data:
        subject = " ".join(clean_text(data.get("subject")).split())
        if not subject:
            errors["subject"] = _("Give the newsletter a subject.")
        elif len(subject) > SUBJECT_MAX:
            errors["subject"] = _("At most %(n)s characters.", n=SUBJECT_MAX)
        elif problems := placeholder_errors(subject):
            errors["subject"] = " ".join(problems)
        values["subject"] = subject
    if creating or "body" in data:
        body = clean_text(data.get("body"), multiline=True)
        if len(body) > BODY_MAX:
            errors["body"] = _("At most %(n)s characters.", n=BODY_MAX)
        elif problems := placeholder_errors(body):
            errors["body"] = " ".join(problems)
        values["body"] = body
    if creating or any(key in data for key in ("segment_id", "filter", "audience")):
        try:
            values["audience"] = await _audience(actor, data)
        except InvalidInput as exc:
            errors.update(exc.fields or {"audience": exc.message})
        except NotFound as exc:
            if not segment_out_of_reach_is_error:
                raise
            errors["segment_id" if "segment_id" in data else "audience"] = exc.message
    if creating or "sections" in data:
        values["sections"] = _sections(data.get("sections"), errors)
    if "events_weeks" in data:
        weeks = data["events_weeks"]
        numeric = type(weeks) is int or (isinstance(weeks, str) and weeks.strip().isdigit())
        if not numeric or not 1 <= int(weeks) <= MAX_WEEKS:
            errors["events_weeks"] = _("A number of weeks, 1 to %(n)s.", n=MAX_WEEKS)
        else:
            values["events_weeks"] = int(weeks)
    return values


async def _audience(actor: Actor, data: Mapping[str, Any]) -> dict[str, Any]:
    raw = data.get("audience")
    if raw is None:
        raw = {key: data.get(key) for key in ("segment_id", "filter") if data.get(key) is not None}
    if not isinstance(raw, Mapping):
        raise _invalid({"audience": _("Choose a saved segment or a filter.")})
    audience = NewsletterAudience.from_json(raw)
    await audience_people(audience, actor=actor)  # 404: a segment or embassy out of reach
    return audience.to_json()


def _sections(value: Any, errors: dict[str, str]) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(v, str) for v in items):
        errors["sections"] = _("A list of sections: events, news.")
        return []
    unknown = sorted(set(items) - set(SECTIONS))
    if unknown:
        errors["sections"] = _("Unknown section: %(name)s.", name=unknown[0])
    return [name for name in SECTIONS if name in items]


def _instant(value: Any, actor: Actor, name: str, errors: dict[str, str]) -> datetime | None:
    """A time given as an aware datetime, or as wall-clock time in the actor's zone."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, str):
            text = value.strip()
            try:
                aware = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                aware = None
            # With an offset: that instant; else wall-clock time, strictly formatted.
            local = aware if aware and aware.tzinfo else parse_local(text, field=name)
        elif isinstance(value, datetime):
            local = value
        else:
            raise InvalidInput(_("A date and time."), fields={name: _("A date and time.")})
        return to_utc(local, actor.user.timezone or "UTC", field=name)
    except (InvalidInput, ValueError) as exc:
        message = exc.fields.get(name) if isinstance(exc, InvalidInput) else None
        errors[name] = message or _("Give a date and time like 2026-03-27T18:00.")
        return None


# --- Preview and audience ---------------------------------------------------------------

_renderers: dict[int, tuple[Settings, Renderer]] = {}


def _renderer(settings: Settings) -> Renderer:
    kept = _renderers.get(id(settings))
    if kept is None or kept[0] is not settings:
        if len(_renderers) > 8:
            _renderers.clear()
        kept = (settings, Renderer(settings))
        _renderers[id(settings)] = kept
    return kept[1]


async def render_preview(
    newsletter: Newsletter, *, recipient: Alumnus | None, settings: Settings
) -> Preview:
    """The issue (saved or not) as ``recipient`` will see it, or a sample recipient
    (None: placeholders show their fallback or their name in brackets, and no
    personal section). Raises InvalidInput for a bad placeholder."""
    compile_issue(newsletter.subject, newsletter.body)  # placeholders checked
    if recipient is not None:
        await recipient.fetch_related("country")
    row = OutboxMessage(
        template=emails.TEMPLATE,
        category=Category.TRANSACTIONAL,
        to_address=(recipient.email if recipient and recipient.email else "alumnus@example.org"),
        to_name=f"{recipient.given_name} {recipient.family_name}" if recipient else "",
        recipient_type="alumnus" if recipient else None,
        recipient_id=recipient.id if recipient else None,
        context={"newsletter": newsletter.id or 0, "preview": True},
        message_key="preview",
        auto_submitted=True,
    )
    with emails.previewing(newsletter, recipient):
        message = await _renderer(settings).render(row, now=utcnow())
    html = message.get_body(("html",))
    text = message.get_body(("plain",))
    return Preview(
        subject=str(message["Subject"]),
        html=html.get_content() if html is not None else "",  # type: ignore[attr-defined]
        text=text.get_content() if text is not None else "",  # type: ignore[attr-defined]
    )


async def audience_count(
    actor: Actor, newsletter: Newsletter | Mapping[str, Any]
) -> AudiencePreview:
    """Who the issue reaches now: recipients (the audience narrowed by the
    eligibility rule), the rest by reason, and the audience before the rule.

    ``newsletter`` is an issue or an audience (``{"segment_id": N}`` or
    ``{"filter": {...}}``). For an issue whose send started, its fixed audience.
    """
    require_role(actor, Role.STAFF)
    audience = newsletter.audience if isinstance(newsletter, Newsletter) else newsletter
    if isinstance(newsletter, Newsletter) and (newsletter.audience or {}).get("fixed"):
        people = fixed_people(newsletter)
    else:
        people = await audience_people(NewsletterAudience.from_json(audience), actor=actor)
    total = await people.count()
    recipients = await eligible(people).count()
    skipped = await skipped_by_reason(people)
    return AudiencePreview(
        recipients=recipients, skipped=dict(sorted(skipped.items())), total=total
    )


async def sample_recipient(actor: Actor, newsletter: Newsletter) -> Alumnus | None:
    """The first person (by id) the issue would be sent to, for a preview; None when
    nobody would receive it."""
    require_role(actor, Role.STAFF)
    people = await audience_people(NewsletterAudience.from_json(newsletter.audience), actor=actor)
    return await eligible(people).order_by("id").select_related("country").first()


# --- Sending ----------------------------------------------------------------------------


async def send_test(actor: Actor, newsletter_id: object, settings: Settings) -> None:
    """One copy of the issue to the author's own address, through the outbox (the
    worker sends it like any mail). Placeholders are filled from the author's alumni
    profile when they have one, else show their fallbacks."""
    issue = await get_newsletter(actor, newsletter_id)
    check_placeholders(issue.subject, field="subject")
    check_placeholders(issue.body)
    person = await alumnus_for_user(actor.user)
    recipient = ("alumnus", person.id) if person is not None else ("user", actor.id)
    async with in_transaction() as conn:
        await enqueue(
            emails.TEMPLATE,
            to=actor.user.email,
            to_name=f"{person.given_name} {person.family_name}" if person is not None else "",
            category=Category.TRANSACTIONAL,
            dedupe_key=f"newsletter-test:{issue.id}:{actor.id}:{uuid.uuid4().hex}",
            context={"newsletter": issue.id, "test": True},
            recipient=recipient,
            using_db=conn,
        )
        await record(
            "newsletter.test",
            actor=actor.user,
            target=("newsletter", issue.id),
            details={},
            using_db=conn,
        )


async def send_newsletter(
    actor: Actor,
    newsletter_id: object,
    *,
    send_at: datetime | str | None = None,
    now: datetime | None = None,
    ip: str = "",
) -> Newsletter:
    """Send the issue now (``send_at`` None) or schedule it at ``send_at`` (wall-clock
    time in the author's zone, or aware). See the module doc for what a second
    click does. Raises InvalidInput (a bad placeholder; nobody to send to; a time not
    in the future), Conflict (scheduling an issue already sending or sent)."""
    issue = await get_newsletter(actor, newsletter_id)
    now = now or utcnow()
    if issue.status in (IssueStatus.SENDING, IssueStatus.SENT) and send_at is None:
        return issue  # a second click
    if issue.status == IssueStatus.PAUSED and send_at is None:
        return await resume_newsletter(actor, issue.id, ip=ip)
    if issue.status not in EDITABLE:
        raise Conflict(_("This newsletter is being sent or was sent: it cannot be scheduled."))
    errors: dict[str, str] = {}
    for name in ("subject", "body"):
        if problems := placeholder_errors(getattr(issue, name)):
            errors[name] = " ".join(problems)
    when = _instant(send_at, actor, "send_at", errors) if send_at is not None else None
    if when is not None and when <= now:
        errors["send_at"] = _("Choose a time in the future.")
    if errors:
        raise _invalid(errors)
    people = await audience_people(NewsletterAudience.from_json(issue.audience), actor=actor)
    if when is None and not await eligible(people).exists():
        raise _invalid({"audience": _("Nobody in this audience can receive the newsletter.")})
    target = IssueStatus.SCHEDULED if when is not None else IssueStatus.SENDING
    async with in_transaction() as conn:
        updated = await (
            Newsletter.filter(id=issue.id, status__in=list(EDITABLE))
            .using_db(conn)
            .update(
                status=target,
                send_at=when or now,
                send_timezone=actor.user.timezone or "UTC",
                updated_at=now,
            )
        )
        if updated:
            await record(
                "newsletter.schedule" if when is not None else "newsletter.send",
                actor=actor.user,
                target=("newsletter", issue.id),
                details={"send_at": (when or now).isoformat()},
                ip=ip,
                using_db=conn,
            )
    if not updated:  # sent meanwhile by another click
        return await send_newsletter(actor, issue.id, send_at=send_at, now=now, ip=ip)
    return await get_newsletter(actor, issue.id)


async def unschedule_newsletter(actor: Actor, newsletter_id: object, *, ip: str = "") -> Newsletter:
    """A scheduled issue back to draft (a draft stays as it is; 409 once sending)."""
    issue = await get_newsletter(actor, newsletter_id)
    if issue.status == IssueStatus.DRAFT:
        return issue
    updated = await Newsletter.filter(id=issue.id, status=IssueStatus.SCHEDULED).update(
        status=IssueStatus.DRAFT, send_at=None, updated_at=utcnow()
    )
    if not updated:
        raise Conflict(_("This newsletter is being sent or was sent."))
    await record("newsletter.unschedule", actor=actor.user, target=("newsletter", issue.id), ip=ip)
    return await get_newsletter(actor, issue.id)


async def pause_newsletter(actor: Actor, newsletter_id: object, *, ip: str = "") -> Newsletter:
    """Stop a run at its next chunk (messages already queued still go). Pausing a
    paused issue changes nothing; one that is not sending is a 409."""
    issue = await get_newsletter(actor, newsletter_id)
    if issue.status == IssueStatus.PAUSED:
        return issue
    updated = await Newsletter.filter(id=issue.id, status=IssueStatus.SENDING).update(
        status=IssueStatus.PAUSED, paused_at=utcnow()
    )
    if not updated:
        raise Conflict(_("Only a newsletter being sent can be paused."))
    await record("newsletter.pause", actor=actor.user, target=("newsletter", issue.id), ip=ip)
    return await get_newsletter(actor, issue.id)


async def resume_newsletter(actor: Actor, newsletter_id: object, *, ip: str = "") -> Newsletter:
    """Go on with a paused run from its checkpoint (the next runner: the caller's
    :func:`run_send`, or the scheduler). A sending issue changes nothing; others 409."""
    issue = await get_newsletter(actor, newsletter_id)
    if issue.status == IssueStatus.SENDING:
        return issue
    updated = await Newsletter.filter(id=issue.id, status=IssueStatus.PAUSED).update(
        status=IssueStatus.SENDING, paused_at=None, lease_owner=None, lease_expires_at=None
    )
    if not updated:
        raise Conflict(_("Only a paused newsletter can be resumed."))
    await record("newsletter.resume", actor=actor.user, target=("newsletter", issue.id), ip=ip)
    return await get_newsletter(actor, issue.id)


async def newsletter_stats(actor: Actor, newsletter_id: object) -> dict[str, Any]:
    """Recipients, delivered, deferred, bounced, unsubscribed after it, skipped, and
    opens and clicks when tracking is on (engage.newsletters.stats)."""
    issue = await get_newsletter(actor, newsletter_id)
    return await issue_stats(issue)
