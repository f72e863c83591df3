"""Event kinds: the files in ``events/`` (one TOML file each), validated at start-up.

A kind gives an event its defaults when it is created: duration, capacity, guests,
RSVP questions, reminder offsets, dress code and the email templates it uses. The
event then keeps its own copy, so editing a kind never changes an existing event::

    kinds = load_kinds(Path("events"))      # every file checked, or KindError
    kind = get_kind("reception")            # InvalidInput(fields={"kind": ...}) if unknown
    kind.duration_minutes, kind.questions, kind.templates.invitation

A bad file raises :class:`KindError`, whose message is one line naming the file and
the field: ``events/reception.toml: questions[1].type: Input should be 'text',
'choice' or 'yes_no'``. ``engage serve`` and ``engage worker`` print it and stop.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from engage.errors import InvalidInput
from engage.i18n import _
from engage.resources import resource_dir
from engage.settings import Settings

_SLUG = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_TEMPLATE = r"^[a-z][a-z0-9_]*$"
_MINUTES = {"before_minutes": 1, "hours_before": 60, "days_before": 24 * 60}


class KindError(Exception):
    """A kind file is unreadable or invalid. ``str(err)`` is one line naming file and field."""


class _Strict(BaseModel):
    # validate_default: a choice question with no choices is caught by the
    # choices validator even when the key is left out.
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class Question(_Strict):
    """An RSVP question. ``id`` keys the answer in ``Invitation.answers``."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)
    label: str = Field(min_length=1, max_length=200)
    type: Literal["text", "choice", "yes_no"]
    required: bool = Field(default=False, strict=True)
    choices: tuple[str, ...] = ()

    @field_validator("choices")
    @classmethod
    def _check_choices(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        kind = info.data.get("type")
        if kind == "choice":
            if len(value) < 2:
                raise ValueError("a choice question needs at least two choices")
            if any(not item.strip() for item in value):
                raise ValueError("choices must not be empty")
            if len(set(value)) != len(value):
                raise ValueError("choices must be different")
        elif value:
            raise ValueError("only a question of type 'choice' has choices")
        return value


class ReminderRule(_Strict):
    """Remind ``to`` those who have not answered, or those coming, before the start.

    The files say ``days_before = 7`` or ``hours_before = 24`` (exactly one); the
    rule keeps minutes.
    """

    before_minutes: int = Field(gt=0, le=90 * 24 * 60, strict=True)
    to: Literal["unanswered", "coming"]

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        given = [key for key in _MINUTES if key in data]
        if len(given) != 1:
            raise PydanticCustomError(
                "reminder_offset", "give exactly one of days_before or hours_before"
            )
        key = given[0]
        value = data[key]
        if type(value) is not int:
            raise PydanticCustomError("reminder_offset", f"{key}: must be a whole number")
        rest = {k: v for k, v in data.items() if k != key}
        return {**rest, "before_minutes": value * _MINUTES[key]}


class KindTemplates(_Strict):
    """The email templates (folders of ``emails/``) an event of this kind uses."""

    invitation: str = Field(default="invitation", pattern=_TEMPLATE)
    confirmation: str = Field(default="rsvp_confirmation", pattern=_TEMPLATE)
    promotion: str = Field(default="waitlist_promoted", pattern=_TEMPLATE)
    reminder: str = Field(default="event_reminder", pattern=_TEMPLATE)
    change: str = Field(default="event_changed", pattern=_TEMPLATE)
    cancellation: str = Field(default="event_cancelled", pattern=_TEMPLATE)

    def names(self) -> list[str]:
        """Every template named, in field order."""
        return [getattr(self, field) for field in type(self).model_fields]


class EventKind(_Strict):
    #: The file name without ``.toml``, e.g. "course_reunion".
    slug: str
    name: str = Field(min_length=1, max_length=100)
    description: str = ""
    duration_minutes: int = Field(gt=0, le=7 * 24 * 60, strict=True)
    #: Seats for invitees and guests together; left out: no limit.
    capacity: int | None = Field(default=None, gt=0, strict=True)
    guests_allowed: int = Field(default=0, ge=0, le=20, strict=True)
    #: Guests must be named (the embassy's security list).
    guests_named: bool = Field(default=False, strict=True)
    visibility: Literal["invitation", "open"] = "invitation"
    dress_code: str = Field(default="", max_length=200)
    online: bool = Field(default=False, strict=True)
    questions: tuple[Question, ...] = ()
    reminders: tuple[ReminderRule, ...] = ()
    templates: KindTemplates = Field(default_factory=KindTemplates)

    @field_validator("questions")
    @classmethod
    def _unique_questions(cls, value: tuple[Question, ...]) -> tuple[Question, ...]:
        seen: set[str] = set()
        for question in value:
            if question.id in seen:
                raise ValueError(f"duplicate question id {question.id!r}")
            seen.add(question.id)
        return value

    @field_validator("reminders")
    @classmethod
    def _unique_reminders(cls, value: tuple[ReminderRule, ...]) -> tuple[ReminderRule, ...]:
        keys = [(rule.before_minutes, rule.to) for rule in value]
        if len(set(keys)) != len(keys):
            raise ValueError("the same reminder is given twice")
        return value


def load_kinds(directory: Path | None = None) -> dict[str, EventKind]:
    """Every ``*.toml`` in ``directory`` (default: the packaged ``events/``), by slug.

    Raises :class:`KindError` for the first bad file, in name order.
    """
    packaged = directory is None
    folder = resource_dir("events") if directory is None else Path(directory)
    if not folder.is_dir():
        raise KindError(f"{folder}: no such folder of event kinds")
    files = sorted(folder.glob("*.toml"))
    if not files:
        raise KindError(f"{folder}: no event kind files (*.toml)")
    kinds: dict[str, EventKind] = {}
    for path in files:
        shown = f"events/{path.name}" if packaged else str(path)
        kinds[path.stem] = _load_file(path, shown)
    return kinds


def _load_file(path: Path, shown: str) -> EventKind:
    if not _SLUG.match(path.stem):
        raise KindError(f"{shown}: the file name must be lower-case letters, digits and _")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise KindError(f"{shown}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise KindError(f"{shown}: invalid TOML: {_one_line(str(exc))}") from None
    if "slug" in data:
        raise KindError(f"{shown}: slug: unknown field (the slug is the file name)")
    try:
        return EventKind.model_validate({**data, "slug": path.stem})
    except ValidationError as exc:
        raise KindError(f"{shown}: {_first_error(exc)}") from None


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    location = ""
    for part in error["loc"]:
        if isinstance(part, int):
            location += f"[{part}]"
        else:
            location += f".{part}" if location else str(part)
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown field"
    elif error["type"] == "missing":
        message = "required"
    return _one_line(f"{location}: {message}" if location else message)


def _one_line(text: str) -> str:
    return " ".join(text.split())


_installed: dict[str, EventKind] | None = None


def install_kinds(settings: Settings) -> dict[str, EventKind]:
    """Load and check the kinds ``settings`` point at (``app.events_dir``, empty: the
    packaged folder) and make them the ones :func:`event_kinds` returns.

    Called at start-up by the app and the worker; raises :class:`KindError`.
    """
    global _installed
    kinds = load_kinds(settings.app.events_dir)
    _installed = kinds
    return kinds


def event_kinds() -> dict[str, EventKind]:
    """The kinds in use: those installed at start-up, else the packaged ones."""
    global _installed
    if _installed is None:
        _installed = load_kinds()
    return _installed


def get_kind(slug: str) -> EventKind:
    kind = event_kinds().get(slug)
    if kind is None:
        message = _("Unknown kind of event: %(kind)s.", kind=slug)
        raise InvalidInput(message, fields={"kind": message})
    return kind
