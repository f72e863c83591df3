"""What an event form or API body may hold, and how each field is checked.

The events service cleans raw values (strings from a form, JSON values, Python
objects) field by field, collecting every problem at once::

    errors: dict[str, str] = {}
    values = clean_fields({"title": " Reception ", "capacity": "80"}, "Europe/Riga", errors)
    # values == {"title": "Reception", "capacity": 80}; errors == {}

Times are wall-clock times in the event's zone (``"2026-03-27T18:00"`` or a naive
``datetime``), stored as UTC instants; a time with an offset is converted as given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any, TypedDict
from urllib.parse import urlsplit

from pydantic import ValidationError

from engage.alumni.profiles import clean_text
from engage.errors import InvalidInput
from engage.events.kinds import Question
from engage.events.models import Visibility
from engage.events.timefmt import to_utc
from engage.i18n import _

MAX_GUESTS = 10
MAX_CAPACITY = 1_000_000
MAX_QUESTIONS = 20
_LIMITS = {"title": 200, "venue": 200, "dress_code": 200, "address": 1000, "online_url": 500}
_DESCRIPTION_MAX = 20_000
_TRUE = {"1", "true", "on", "yes"}
_FALSE = {"", "0", "false", "off", "no"}


class EventInput(TypedDict, total=False):
    """The fields of an event (all optional in a change; ``embassy``, ``kind`` and
    ``title`` and ``starts_at`` needed to create one)."""

    embassy: str  # a code, e.g. "RIX"
    kind: str
    title: str
    description: str
    venue: str
    address: str
    online_url: str
    starts_at: datetime | str  # local wall time in the embassy's zone
    ends_at: datetime | str | None  # default: start + the kind's duration
    capacity: int | str | None
    guests_allowed: int | str
    guests_named: bool | str
    rsvp_deadline: datetime | str | None
    questions: list[dict[str, Any]]
    dress_code: str
    visibility: str
    status: str  # at creation: "draft" (default) or "published"
    contact: int | str | None  # a user id or email address: the Reply-To of invitations


#: Fields an event keeps after creation that a change may set.
EDITABLE = frozenset(EventInput.__annotations__) - {"embassy", "kind", "status"}
#: A change of one of these raises the calendar SEQUENCE.
TIME_OR_PLACE = ("starts_at", "ends_at", "venue", "address", "online_url")


class _Wrong(Exception):
    """The message to show beside a field."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def clean_fields(raw: Mapping[str, Any], tz: str, errors: dict[str, str]) -> dict[str, Any]:
    """Clean each editable field present in ``raw``; problems go to ``errors``."""
    cleaned: dict[str, Any] = {}
    for name, value in raw.items():
        cleaner = _CLEANERS.get(name)
        if cleaner is None:
            continue
        try:
            cleaned[name] = cleaner(value, tz)
        except _Wrong as exc:
            errors[name] = exc.message
    return cleaned


def _instant(value: object, tz: str) -> datetime | None:
    """A UTC instant from a local wall time in ``tz`` (or a time with an offset)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise _Wrong(_("Enter a date and time such as 2026-03-27T18:00.")) from None
    if not isinstance(value, datetime):
        if isinstance(value, date):
            raise _Wrong(_("Give a time as well as the date."))
        raise _Wrong(_("Enter a date and time such as 2026-03-27T18:00."))
    value = value.replace(microsecond=0)
    if value.tzinfo is not None:
        return value.astimezone(UTC)
    try:
        return to_utc(value, tz)
    except InvalidInput as exc:
        # A wall time in the spring-forward gap does not exist in the zone.
        raise _Wrong(next(iter(exc.fields.values()), exc.message)) from None


def _text(name: str, *, multiline: bool = False) -> Callable[[object, str], str]:
    limit = _LIMITS.get(name, _DESCRIPTION_MAX)

    def clean(value: object, tz: str) -> str:
        text = clean_text(value, multiline=multiline)
        if len(text) > limit:
            raise _Wrong(_("At most %(n)s characters.", n=limit))
        return text

    return clean


def _title(value: object, tz: str) -> str:
    text = _text("title")(value, tz)
    if not text:
        raise _Wrong(_("Give the event a title."))
    return text


def _online_url(value: object, tz: str) -> str:
    url = _text("online_url")(value, tz)
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme.lower() != "https" or not parts.hostname or any(c.isspace() for c in url):
        raise _Wrong(_("Give a secure link starting with https://."))
    return url


def _integer(value: object) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise _Wrong(_("Enter a whole number."))
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise _Wrong(_("Enter a whole number."))


def _capacity(value: object, tz: str) -> int | None:
    number = _integer(value)
    if number is not None and not 0 <= number <= MAX_CAPACITY:
        raise _Wrong(_("Enter a number of seats (0 or more), or leave it empty for no limit."))
    return number


def _guests(value: object, tz: str) -> int:
    number = _integer(value) or 0
    if not 0 <= number <= MAX_GUESTS:
        raise _Wrong(_("Between 0 and %(n)s guests.", n=MAX_GUESTS))
    return number


def _flag(value: object, tz: str) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise _Wrong(_("Yes or no."))


def _visibility(value: object, tz: str) -> Visibility:
    try:
        return Visibility(str(value))
    except ValueError:
        raise _Wrong(_("Invitation only, or open to the embassy's alumni.")) from None


def _starts(value: object, tz: str) -> datetime:
    found = _instant(value, tz)
    if found is None:
        raise _Wrong(_("Give the start date and time."))
    return found


def _optional_instant(value: object, tz: str) -> datetime | None:
    return _instant(value, tz)


def _questions(value: object, tz: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise _Wrong(_("A list of questions."))
    if len(value) > MAX_QUESTIONS:
        raise _Wrong(_("At most %(n)s questions.", n=MAX_QUESTIONS))
    found: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, item in enumerate(value, start=1):
        try:
            question = item if isinstance(item, Question) else Question.model_validate(item)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"]) or "question"
            detail = error["msg"].removeprefix("Value error, ")
            raise _Wrong(
                _("Question %(n)s, %(field)s: %(error)s", n=index, field=where, error=detail)
            ) from None
        if question.id in seen:
            raise _Wrong(_("Two questions have the id %(id)s.", id=question.id))
        seen.add(question.id)
        found.append(question.model_dump(mode="json"))
    return found


def _contact(value: object, tz: str) -> int | str | None:
    """Resolved to a user by the service: an id or an email address."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip()
        return int(text) if text.isdigit() else text
    raise _Wrong(_("Choose a person by email address."))


_CLEANERS: dict[str, Callable[[object, str], Any]] = {
    "title": _title,
    "description": _text("description", multiline=True),
    "venue": _text("venue"),
    "address": _text("address", multiline=True),
    "online_url": _online_url,
    "starts_at": _starts,
    "ends_at": _optional_instant,
    "capacity": _capacity,
    "guests_allowed": _guests,
    "guests_named": _flag,
    "rsvp_deadline": _optional_instant,
    "questions": _questions,
    "dress_code": _text("dress_code"),
    "visibility": _visibility,
    "contact": _contact,
}
