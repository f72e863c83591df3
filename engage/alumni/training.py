"""The course catalogue and who trained on what.

::

    course = await create_course({"title": "Command and General Staff", "school": "CGSC",
                                  "category": "pme", "tags": ["C-130"]}, actor=staff)
    record = await add_training(person.id, {"course_id": course.id, "class_year": 2019,
                                            "funding_type": "IMET"},
                                actor=staff, funding_types=settings.programme.funding_types)

Staff keep the catalogue and the training records (an import's training data wins
over anything else). Attachés read the catalogue and, in their countries, the records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from engage.accounts.actor import Actor, require_role
from engage.accounts.audit import record
from engage.accounts.models import Role
from engage.alumni.models import Course, CourseCategory, TrainingRecord
from engage.alumni.profiles import clean_text, find_alumnus, parse_bool, parse_date, parse_id
from engage.clock import utcnow
from engage.errors import Conflict, InvalidInput, NotFound
from engage.i18n import _

COURSE_FIELDS = ("title", "school", "category", "tags")
TRAINING_FIELDS = (
    "course_id",
    "start_date",
    "end_date",
    "class_year",
    "funding_type",
    "graduated",
)
_MAX_TAGS = 30
_MAX_TAG = 60
FIRST_CLASS_YEAR = 1940


# --- Courses ----------------------------------------------------------------------------


async def list_courses(*, actor: Actor) -> list[Course]:
    """The catalogue, by title (attachés, staff)."""
    require_role(actor, Role.ATTACHE)
    return await Course.all().order_by("title", "school", "id")


async def get_course(course_id: object, *, actor: Actor) -> Course:
    require_role(actor, Role.ATTACHE)
    pk = parse_id(course_id)
    course = None if pk is None or pk > 2**31 - 1 else await Course.get_or_none(id=pk)
    if course is None:
        raise NotFound(_("No such course."))
    return course


async def create_course(data: Mapping[str, Any], *, actor: Actor, ip: str = "") -> Course:
    """Add a course (staff). Title and school required; the pair is unique (409)."""
    require_role(actor, Role.STAFF)
    values = _clean_course(data, partial=False)
    await _check_course_unique(values["title"], values["school"], exclude_id=None)
    try:
        async with in_transaction() as conn:
            course = await Course.create(**values, using_db=conn)
            await record(
                "course.create",
                actor=actor.user,
                target=("course", course.id),
                details={"title": course.title, "school": course.school},
                ip=ip,
                using_db=conn,
            )
    except IntegrityError:
        raise _course_taken() from None
    return course


async def update_course(
    course_id: object, changes: Mapping[str, Any], *, actor: Actor, ip: str = ""
) -> Course:
    """Change some fields of a course (staff)."""
    require_role(actor, Role.STAFF)
    course = await get_course(course_id, actor=actor)
    values = _clean_course(changes, partial=True)
    changed = {k: v for k, v in values.items() if getattr(course, k) != v}
    if not changed:
        return course
    title = changed.get("title", course.title)
    school = changed.get("school", course.school)
    await _check_course_unique(title, school, exclude_id=course.id)
    for name, value in changed.items():
        setattr(course, name, value)
    try:
        async with in_transaction() as conn:
            await course.save(using_db=conn)
            await record(
                "course.update",
                actor=actor.user,
                target=("course", course.id),
                details={"fields": sorted(changed)},
                ip=ip,
                using_db=conn,
            )
    except IntegrityError:
        raise _course_taken() from None
    return course


async def delete_course(course_id: object, *, actor: Actor, ip: str = "") -> None:
    """Remove a course nobody trained on (staff); otherwise 409."""
    require_role(actor, Role.STAFF)
    course = await get_course(course_id, actor=actor)
    if await TrainingRecord.exists(course_id=course.id):
        raise Conflict(_("People trained on this course: it stays in the catalogue."))
    async with in_transaction() as conn:
        await Course.filter(id=course.id).using_db(conn).delete()
        await record(
            "course.delete",
            actor=actor.user,
            target=("course", course.id),
            details={"title": course.title, "school": course.school},
            ip=ip,
            using_db=conn,
        )


# --- Training records -------------------------------------------------------------------


async def add_training(
    alumnus_id: object,
    data: Mapping[str, Any],
    *,
    actor: Actor,
    funding_types: Sequence[str],
    ip: str = "",
) -> TrainingRecord:
    """Record that a person took a course (staff).

    ``course_id`` and ``funding_type`` (one of ``funding_types``, from the settings)
    are required; the class year defaults to the end date's year.
    """
    require_role(actor, Role.STAFF)
    alumnus, _audience = await find_alumnus(alumnus_id, actor=actor)
    if alumnus.erased_at is not None or alumnus.merged_into_id is not None:  # type: ignore[attr-defined]
        raise Conflict(_("This profile is closed (merged or erased)."))
    values = _clean_training(data, funding_types=funding_types, today=utcnow().date())
    course = await Course.get_or_none(id=values.pop("course_id"))
    if course is None:
        raise InvalidInput(
            _("Please correct the marked fields."), fields={"course_id": _("No such course.")}
        )
    async with in_transaction() as conn:
        training = await TrainingRecord.create(
            alumnus_id=alumnus.id, course=course, **values, using_db=conn
        )
        await record(
            "training.add",
            actor=actor.user,
            target=("alumnus", alumnus.id),
            details={"record": training.id, "course": course.id},
            ip=ip,
            using_db=conn,
        )
    training.course = course
    return training


async def delete_training(
    alumnus_id: object, record_id: object, *, actor: Actor, ip: str = ""
) -> None:
    """Remove a training record entered by mistake (staff)."""
    require_role(actor, Role.STAFF)
    alumnus, _audience = await find_alumnus(alumnus_id, actor=actor)
    pk = parse_id(record_id)
    training = (
        None if pk is None else await TrainingRecord.get_or_none(id=pk, alumnus_id=alumnus.id)
    )
    if training is None:
        raise NotFound(_("No such training record."))
    async with in_transaction() as conn:
        await TrainingRecord.filter(id=training.id).using_db(conn).delete()
        await record(
            "training.delete",
            actor=actor.user,
            target=("alumnus", alumnus.id),
            details={"record": training.id, "course": training.course_id},  # type: ignore[attr-defined]
            ip=ip,
            using_db=conn,
        )


# --- Helpers ----------------------------------------------------------------------------


def _course_taken() -> Conflict:
    message = _("This school already has a course with this title.")
    return Conflict(message, fields={"title": message})


async def _check_course_unique(title: str, school: str, *, exclude_id: int | None) -> None:
    query = Course.filter(title=title, school=school)
    if exclude_id is not None:
        query = query.exclude(id=exclude_id)
    if await query.exists():
        raise _course_taken()


def parse_tags(value: object) -> list[str]:
    """Tags from a list or a comma-separated string: trimmed, each once, in order."""
    items = value.split(",") if isinstance(value, str) else value
    if items is None:
        return []
    if not isinstance(items, list | tuple) or not all(isinstance(t, str) for t in items):
        raise ValueError("not a list of tags")
    tags = [clean_text(t) for t in items]
    return list(dict.fromkeys(t for t in tags if t))


def _clean_course(data: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    errors = {name: _("Unknown field.") for name in data if name not in COURSE_FIELDS}
    values: dict[str, Any] = {}
    for name in ("title", "school"):
        if name not in data and partial:
            continue
        text = clean_text(data.get(name))
        if not text:
            errors[name] = _("Required.")
        elif len(text) > 200:
            errors[name] = _("At most %(n)s characters.", n=200)
        values[name] = text
    if "category" in data or not partial:
        try:
            values["category"] = CourseCategory(clean_text(data.get("category")) or "other")
        except ValueError:
            choices = ", ".join(c.value for c in CourseCategory)
            errors["category"] = _("Choose one of: %(choices)s.", choices=choices)
    if "tags" in data or not partial:
        try:
            tags = parse_tags(data.get("tags"))
        except ValueError:
            errors["tags"] = _("A list of tags, e.g. C-130, Patriot.")
        else:
            if len(tags) > _MAX_TAGS or any(len(t) > _MAX_TAG for t in tags):
                errors["tags"] = _(
                    "At most %(n)s tags of %(m)s characters each.", n=_MAX_TAGS, m=_MAX_TAG
                )
            values["tags"] = tags
    if errors:
        raise InvalidInput(_("Please correct the marked fields."), fields=errors)
    return values


def _clean_training(
    data: Mapping[str, Any], *, funding_types: Sequence[str], today: date
) -> dict[str, Any]:
    errors = {name: _("Unknown field.") for name in data if name not in TRAINING_FIELDS}
    values: dict[str, Any] = {}
    course_id = parse_id(data.get("course_id"))
    if course_id is None or course_id > 2**31 - 1:
        errors["course_id"] = _("Choose a course.")
    values["course_id"] = course_id
    for name in ("start_date", "end_date"):
        try:
            values[name] = parse_date(data.get(name))
        except ValueError:
            errors[name] = _("A date, e.g. 2019-06-14.")
    start, end = values.get("start_date"), values.get("end_date")
    if start and end and end < start:
        errors["end_date"] = _("The course cannot end before it starts.")
    raw_year = data.get("class_year")
    year: int | None = None
    if raw_year not in (None, ""):
        text = clean_text(raw_year)
        if isinstance(raw_year, bool) or not text.isascii() or not text.isdigit():
            errors["class_year"] = _("A year, e.g. 2019.")
        else:
            year = int(text)
    elif end is not None:
        year = end.year
    if year is not None and not FIRST_CLASS_YEAR <= year <= today.year + 2:
        errors["class_year"] = _(
            "A year between %(first)s and %(last)s.", first=FIRST_CLASS_YEAR, last=today.year + 2
        )
    values["class_year"] = year
    funding = clean_text(data.get("funding_type"))
    if funding not in funding_types:
        errors["funding_type"] = _("Choose one of: %(choices)s.", choices=", ".join(funding_types))
    values["funding_type"] = funding
    try:
        values["graduated"] = parse_bool(data.get("graduated", True))
    except ValueError:
        errors["graduated"] = _("Yes or no.")
    if errors:
        raise InvalidInput(_("Please correct the marked fields."), fields=errors)
    return values
