"""Recurring newsletters: a series makes an issue at each date of its schedule.

The schedule is an RFC 5545 recurrence rule read in the series' zone in wall-clock
time, so "monthly on the 1st at 09:00 Riga time" is 09:00 in Riga in winter and in
summer::

    series = await create_series(actor, {
        "name": "Monthly alumni bulletin", "rrule": "FREQ=MONTHLY;BYMONTHDAY=1",
        "starts_at": "2026-04-01T09:00", "timezone": "Europe/Riga",
        "subject": "News from the alumni desk", "body": "Dear {{ preferred_name }}, ...",
        "segment_id": 3, "sections": ["events", "news"],
    })
    upcoming_dates(series, count=3)   # the next dates, in UTC
    await due_series(now)             # the scheduler's job: issues made this turn

The last day of every month is ``BYMONTHDAY=-1``; ``BYMONTHDAY=31`` skips the months
without a 31st (RFC 5545). A wall time that does not exist on some date (the hour
skipped when clocks go forward) moves forward by that hour; one that happens twice
is its first occurrence.

At each date the scheduler makes the issue as a draft for staff to approve, or,
when the series is automatic, scheduled to go at once. ``unique (series,
occurrence)`` makes that idempotent, however many schedulers take a turn. After a
long stop only the latest missed date makes an issue: subscribers never get a burst
of stale issues.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, MONTHLY, WEEKLY, YEARLY, rrule, rrulestr
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from engage.accounts.actor import Actor, require_role
from engage.accounts.models import Role
from engage.alumni.profiles import clean_text
from engage.clock import utcnow
from engage.errors import InvalidInput, NotFound
from engage.events.timefmt import parse_local, to_local, to_utc
from engage.i18n import _
from engage.newsletters.models import IssueStatus, Newsletter, Series
from engage.newsletters.services import check_content

#: Rule parts a series may use (one issue a day at most: no hourly rules, one time).
ALLOWED_PARTS = frozenset(
    {"FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY", "BYMONTH", "BYSETPOS"}
    | {"BYHOUR", "BYMINUTE", "WKST"}
)
FREQUENCIES = {"DAILY": DAILY, "WEEKLY": WEEKLY, "MONTHLY": MONTHLY, "YEARLY": YEARLY}
#: A rule with no date within this many seconds of searching has none worth waiting for.
SEARCH_SECONDS = 2.0
NAME_MAX = 200
RULE_MAX = 500
_PART = re.compile(r"^[A-Z]+=[A-Z0-9,+\-]+$")
_WEEKDAY = re.compile(r"^(?:[+-]?(?:[1-9]|[1-4][0-9]|5[0-3]))?(?:MO|TU|WE|TH|FR|SA|SU)$")
#: Number parts: (lowest, highest, negative values allowed).
_RANGES = {
    "INTERVAL": (1, 1000, False),
    "COUNT": (1, 10_000, False),
    "BYMONTHDAY": (1, 31, True),
    "BYMONTH": (1, 12, False),
    "BYSETPOS": (1, 366, True),
    "BYHOUR": (0, 23, False),
    "BYMINUTE": (0, 59, False),
}
_UNTIL = re.compile(r"^(\d{8})(?:T(\d{6})(Z?))?$")
#: Fields of a series an update may change.
FIELDS = (
    "segment_id",
    "filter",
    "name",
    "rrule",
    "starts_at",
    "timezone",
    "subject",
    "body",
    "audience",
    "sections",
    "events_weeks",
    "automatic",
    "active",
)

T = TypeVar("T")


# --- The rule -----------------------------------------------------------------------


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(_("Please correct the marked fields."), fields={field: message})


def normalise_rule(text: str) -> str:
    """The rule as stored: upper case, without an ``RRULE:`` prefix; InvalidInput
    (on ``rrule``) when it is not one RRULE a series may use."""
    rule = (text or "").strip().upper()
    rule = rule.removeprefix("RRULE:").strip().rstrip(";")
    if not rule:
        raise _invalid("rrule", _("Give a schedule, e.g. FREQ=MONTHLY;BYMONTHDAY=1."))
    if len(rule) > RULE_MAX or "\n" in rule or "\r" in rule:
        raise _invalid("rrule", _("Give one RRULE line, e.g. FREQ=MONTHLY;BYMONTHDAY=1."))
    names = []
    for part in rule.split(";"):
        if not _PART.match(part):
            raise _invalid(
                "rrule", _("“%(part)s” is not a rule part such as BYMONTHDAY=1.", part=part[:40])
            )
        name, _eq, value = part.partition("=")
        if name not in ALLOWED_PARTS:
            raise _invalid(
                "rrule",
                _(
                    "%(name)s is not used in a newsletter schedule: use FREQ, INTERVAL, "
                    "BYDAY, BYMONTHDAY, BYMONTH, BYSETPOS, BYHOUR, BYMINUTE, COUNT or UNTIL.",
                    name=name,
                ),
            )
        if name in names:
            raise _invalid("rrule", _("%(name)s is given twice.", name=name))
        if name in _RANGES and not _in_range(name, value):
            low, high, signed = _RANGES[name]
            raise _invalid(
                "rrule",
                _("%(name)s takes numbers from %(low)s to %(high)s.", name=name, low=low, high=high)
                + (" " + _("(Negative ones count from the end.)") if signed else ""),
            )
        if name == "BYDAY" and not all(_WEEKDAY.match(day) for day in value.split(",")):
            raise _invalid("rrule", _("BYDAY takes days such as MO, TU, 1MO or -1FR."))
        if name == "UNTIL" and not _UNTIL.match(value):
            raise _invalid("rrule", _("UNTIL is a date like 20271231 or 20271231T090000Z."))
        if name in ("BYHOUR", "BYMINUTE") and "," in value:
            raise _invalid("rrule", _("At most one issue a day: give one hour and one minute."))
        names.append(name)
    if "FREQ" not in names:
        raise _invalid("rrule", _("Say how often: FREQ=MONTHLY, WEEKLY, DAILY or YEARLY."))
    freq = dict(p.split("=", 1) for p in rule.split(";"))["FREQ"]
    if freq not in FREQUENCIES:
        raise _invalid("rrule", _("FREQ is DAILY, WEEKLY, MONTHLY or YEARLY."))
    if "COUNT" in names and "UNTIL" in names:
        raise _invalid("rrule", _("Give COUNT or UNTIL, not both."))
    return rule


def _in_range(name: str, value: str) -> bool:
    low, high, signed = _RANGES[name]
    for item in value.split(","):
        digits = item[1:] if signed and item[:1] in "+-" else item
        if not digits.isdigit() or not low <= int(digits) <= high:
            return False
    return True


def _local_until(value: str, tz: str) -> str:
    """UNTIL as the zone's wall time (RFC 5545 gives it in UTC, with a Z)."""
    match = _UNTIL.match(value)
    assert match is not None  # checked by normalise_rule
    day, clock, utc = match.groups()
    try:
        moment = datetime.strptime(day + (clock or "235959"), "%Y%m%d%H%M%S")
    except ValueError:
        raise _invalid("rrule", _("UNTIL is not a real date.")) from None
    if utc:
        moment = to_local(moment.replace(tzinfo=UTC), tz).replace(tzinfo=None)
    return moment.strftime("%Y%m%dT%H%M%S")


def build_rule(text: str, start_local: datetime, tz: str) -> rrule:
    """The rule of a stored schedule, starting at the naive wall time ``start_local``."""
    parts = []
    for part in normalise_rule(text).split(";"):
        name, _eq, value = part.partition("=")
        parts.append(f"UNTIL={_local_until(value, tz)}" if name == "UNTIL" else part)
    try:
        rule = rrulestr(";".join(parts), dtstart=start_local.replace(second=0, microsecond=0))
    except (ValueError, TypeError, IndexError, OverflowError, KeyError) as exc:
        raise _invalid("rrule", _("Not a valid schedule: %(why)s.", why=str(exc)[:120])) from None
    assert isinstance(rule, rrule)
    return rule


def wall_time_utc(local: datetime, tz: str) -> datetime:
    """The instant of the naive wall time ``local`` in ``tz``: a time in the hour
    skipped when clocks go forward moves forward by that hour, a time that happens
    twice is its first occurrence."""
    return local.replace(tzinfo=ZoneInfo(tz), fold=0).astimezone(UTC)


def _wall(instant: datetime, tz: str) -> datetime:
    return to_local(instant, tz).replace(tzinfo=None)


async def _search(work: Callable[[], T]) -> T | None:
    """Run a rule search off the event loop; None when it finds nothing in time (a
    rule that never matches makes dateutil walk to the year 9999)."""
    task = asyncio.ensure_future(asyncio.to_thread(work))
    done, _pending = await asyncio.wait({task}, timeout=SEARCH_SECONDS)
    if task not in done:
        return None
    return task.result()


def _rule(series: Series) -> rrule:
    return build_rule(series.rrule, _wall(series.starts_at, series.timezone), series.timezone)


async def next_date(series: Series, after: datetime, *, inclusive: bool = False) -> datetime | None:
    """The first date of the schedule after the instant ``after`` (UTC), or None."""
    rule = _rule(series)
    local = await _search(lambda: rule.after(_wall(after, series.timezone), inc=inclusive))
    return None if local is None else wall_time_utc(local, series.timezone)


async def upcoming_dates(
    series: Series, *, after: datetime | None = None, count: int = 5
) -> list[datetime]:
    """The next ``count`` dates of the schedule (UTC), from ``after`` (now)."""
    rule = _rule(series)
    start = _wall(after or utcnow(), series.timezone)

    def take() -> list[datetime]:
        found: list[datetime] = []
        for local in rule.xafter(start, count=count, inc=True):
            found.append(local)
        return found

    return [wall_time_utc(d, series.timezone) for d in (await _search(take) or [])]


# --- Input --------------------------------------------------------------------------


def _start(value: object, tz: str) -> datetime:
    """The first date: naive wall time in ``tz`` (as typed), or an aware instant."""
    if isinstance(value, datetime):
        return to_utc(value, tz, field="starts_at")
    return to_utc(parse_local(str(value or ""), field="starts_at"), tz, field="starts_at")


def _zone(value: object) -> str:
    tz = str(value or "").strip()
    try:
        ZoneInfo(tz)
    except (ValueError, KeyError, OSError):
        raise _invalid("timezone", _("Unknown time zone: give one such as Europe/Riga.")) from None
    return tz


def _flag(value: object) -> bool:
    return value is True or str(value).lower() in ("1", "true", "on", "yes")


def _collect(errors: dict[str, str], check: Callable[[], T]) -> T | None:
    """``check()``, its InvalidInput's field messages gathered into ``errors``."""
    try:
        return check()
    except InvalidInput as exc:
        errors.update(exc.fields or {"rrule": exc.message})
        return None


async def _clean(actor: Actor, data: Mapping[str, Any], current: Series | None) -> dict[str, Any]:
    """Validated values for a new series, or for the fields ``data`` changes;
    InvalidInput names every bad field at once."""
    creating = current is None
    errors: dict[str, str] = {name: _("Unknown field.") for name in set(data) - set(FIELDS)}
    values: dict[str, Any] = {}
    if creating or "name" in data:
        name = " ".join(clean_text(data.get("name")).split())
        if not name:
            errors["name"] = _("Give the series a name.")
        elif len(name) > NAME_MAX:
            errors["name"] = _("At most %(n)s characters.", n=NAME_MAX)
        values["name"] = name
    tz = current.timezone if current is not None else "UTC"
    if creating or "timezone" in data:
        tz = _collect(errors, lambda: _zone(data.get("timezone"))) or tz
        values["timezone"] = tz
    if creating or "starts_at" in data or "timezone" in data:
        raw = data.get("starts_at")
        if raw in (None, "") and current is not None:
            raw = _wall(current.starts_at, current.timezone)  # the same wall time
        if "timezone" not in errors:
            values["starts_at"] = _collect(errors, lambda: _start(raw, tz))
    if creating or "rrule" in data:
        values["rrule"] = _collect(errors, lambda: normalise_rule(str(data.get("rrule") or "")))
    for flag in ("automatic", "active"):
        if flag in data:
            values[flag] = _flag(data[flag])
    values.update(await _content(actor, data, errors, creating=creating))
    if errors:
        raise InvalidInput(_("Please correct the marked fields."), fields=errors)
    return values


async def _content(
    actor: Actor, data: Mapping[str, Any], errors: dict[str, str], *, creating: bool
) -> dict[str, Any]:
    """The issue's part of a series (subject, body, audience, sections), checked as
    an issue's is (the newsletters service's one rule)."""
    values = await check_content(
        actor, data, errors, creating=creating, segment_out_of_reach_is_error=True
    )
    if creating and not values.get("body") and not values.get("sections"):
        errors.setdefault("body", _("Write the issues' text, or include a generated section."))
    return values


async def _schedule_checked(series: Series, now: datetime) -> None:
    """Set ``next_run_at`` to the first date from now (and from the start); a rule
    without one is refused."""
    build_rule(series.rrule, _wall(series.starts_at, series.timezone), series.timezone)
    after = max(now, series.starts_at)
    first = await next_date(series, after, inclusive=True)
    if first is None:
        raise _invalid(
            "rrule", _("This schedule gives no date after the first one: check the rule.")
        )
    series.next_run_at = first


# --- Services -----------------------------------------------------------------------


async def create_series(
    actor: Actor, data: Mapping[str, Any], *, now: datetime | None = None
) -> Series:
    """A new series (staff only, 403 otherwise)."""
    require_role(actor, Role.STAFF)
    values = await _clean(actor, data, None)
    series = Series(created_by_id=actor.id, **values)
    await _schedule_checked(series, now or utcnow())
    await series.save()
    return series


async def update_series(
    actor: Actor, series_id: int, changes: Mapping[str, Any], *, now: datetime | None = None
) -> Series:
    """Change a series; a new schedule (or the series made active again) starts from
    now: dates missed meanwhile make no issue."""
    series = await get_series(actor, series_id)
    values = await _clean(actor, changes, series)
    reschedule = any(
        name in values and values[name] != getattr(series, name)
        for name in ("rrule", "starts_at", "timezone")
    ) or (values.get("active") and not series.active)
    for name, value in values.items():
        setattr(series, name, value)
    if reschedule:
        await _schedule_checked(series, now or utcnow())
    await series.save()
    return series


async def get_series(actor: Actor, series_id: int) -> Series:
    require_role(actor, Role.STAFF)
    series = await Series.get_or_none(id=series_id)
    if series is None:
        raise NotFound(_("Not found."))
    return series


async def list_series(actor: Actor) -> list[Series]:
    require_role(actor, Role.STAFF)
    return await Series.all().order_by("-active", "name", "id")


async def series_issues(actor: Actor, series_id: int, *, limit: int = 24) -> list[Newsletter]:
    """The series' issues, latest date first."""
    series = await get_series(actor, series_id)
    return await Newsletter.filter(series_id=series.id).order_by("-occurrence", "-id").limit(limit)


# --- The scheduler's job ------------------------------------------------------------


async def due_series(now: datetime) -> int:
    """Make the issue of every active series whose date has come; the issues made."""
    ids = (
        await Series.filter(active=True, next_run_at__lte=now)
        .order_by("next_run_at", "id")
        .values_list("id", flat=True)
    )
    made = 0
    for series_id in ids:
        made += await _run_series(int(series_id), now)
    return made


async def _run_series(series_id: int, now: datetime) -> int:
    series = await Series.get_or_none(id=series_id)
    if series is None or not series.active or series.next_run_at is None:
        return 0
    due = series.next_run_at
    if due > now:
        return 0
    # The latest date that has come (after a long stop, the missed ones make no issue).
    occurrence = due
    following = await next_date(series, now, inclusive=False)
    previous = await _latest_until(series, now)
    if previous is not None and due < previous <= now:
        occurrence = previous
    news_since = await _news_since(series, occurrence)
    try:
        async with in_transaction() as conn:
            # A conditional update: of two schedulers, one advances the series.
            taken = (
                await Series.filter(id=series.id, next_run_at=due)
                .using_db(conn)
                .update(next_run_at=following)
            )
            if not taken:
                return 0
            if (
                await Newsletter.filter(series_id=series.id, occurrence=occurrence)
                .using_db(conn)
                .exists()
            ):
                return 0
            await Newsletter.create(
                subject=series.subject,
                body=series.body,
                audience=series.audience,
                sections=list(series.sections or []),
                events_weeks=series.events_weeks,
                series_id=series.id,
                occurrence=occurrence,
                status=IssueStatus.SCHEDULED if series.automatic else IssueStatus.DRAFT,
                send_at=occurrence if series.automatic else None,
                send_timezone=series.timezone,
                news_since=news_since,
                created_by_id=series.created_by_id,  # type: ignore[attr-defined]
                using_db=conn,
            )
    except IntegrityError:
        # Another scheduler made this occurrence's issue first.
        return 0
    return 1


async def _latest_until(series: Series, now: datetime) -> datetime | None:
    rule = _rule(series)
    local = await _search(lambda: rule.before(_wall(now, series.timezone), inc=True))
    return None if local is None else wall_time_utc(local, series.timezone)


async def _news_since(series: Series, occurrence: datetime) -> datetime | None:
    """Career news since the series' previous issue; for its first, None (the send
    decides: since the last issue sent, see engage.newsletters.emails.news_start)."""
    previous = (
        await Newsletter.filter(series_id=series.id, occurrence__lt=occurrence)
        .order_by("-occurrence")
        .first()
    )
    return previous.occurrence if previous is not None else None
