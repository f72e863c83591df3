"""Event pages: the embassy's events for attachés and staff, the public view for alumni.

::

    /events                  attachés and staff: upcoming and past events (tabs)
    /events/new              ?kind=reception&embassy=NBO: the form with the kind's defaults
    /events/{id}             the event (alumni: the public view, with the way to answer)
    /events/{id}/edit        the same form; times in the embassy's zone
    /events/{id}/publish     POST
    /events/{id}/cancel      a confirmation page, then POST
    /events/{id}.ics         the calendar file (METHOD:PUBLISH), scoped as the event page
    /my/events               alumni: open events of their country, events they are invited to

Who may see or change which event is decided by ``engage.events.services`` (another
embassy's event answers 404). Times are typed in ``<input type="datetime-local">`` as
the embassy's wall-clock time and sent as typed; the service converts them to UTC.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from engage.accounts.models import Role
from engage.clock import utcnow
from engage.errors import Conflict, InvalidInput, PermissionDenied
from engage.events import services
from engage.events.calendar import Method, event_ics
from engage.events.kinds import event_kinds
from engage.events.models import Event, EventStatus, Visibility
from engage.events.timefmt import to_local, zone_label
from engage.i18n import N_, _
from engage.invitations.services import invitation_counts
from engage.markdown import render_markdown
from engage.places.services import list_embassies
from engage.web.failures import form_failure, path_id
from engage.web.forms import Form, read_form
from engage.web.identity import client_ip
from engage.web.identity import current_actor as _actor
from engage.web.invitations import invitations_block
from engage.web.routing import Access, form_data, page
from engage.web.templating import render

STATUSES = {
    EventStatus.DRAFT: N_("Draft"),
    EventStatus.PUBLISHED: N_("Published"),
    EventStatus.CANCELLED: N_("Cancelled"),
}
VISIBILITIES = {
    Visibility.INVITATION: N_("Invitation only"),
    Visibility.OPEN: N_("Open to the alumni of the embassy's countries"),
}
QUESTION_TYPES = {"text": N_("Text"), "choice": N_("One of the choices"), "yes_no": N_("Yes or no")}
#: What ``?saved=`` may say.
SAVED = {
    "created": N_("The event was saved as a draft."),
    "published": N_("The event is published."),
    "updated": N_("Your changes were saved."),
    "cancelled": N_("The event is cancelled. Everyone invited is told by email."),
}
#: Fields of the event form (kind and embassy are chosen before, and kept).
FIELDS = (
    "title",
    "description",
    "venue",
    "address",
    "online_url",
    "starts_at",
    "ends_at",
    "rsvp_deadline",
    "capacity",
    "guests_allowed",
    "guests_named",
    "dress_code",
    "visibility",
)
_CHECKBOXES = ("guests_named",)
_TIMES = ("starts_at", "ends_at", "rsvp_deadline")
#: Empty question rows offered below the kind's (or the event's) questions.
EXTRA_QUESTIONS = 3
_MAX_QUESTION_ROWS = 40
PAGE_SIZE = 50


def _labels() -> dict[str, Any]:
    return {
        "statuses": STATUSES,
        "visibilities": VISIBILITIES,
        "question_types": QUESTION_TYPES,
        "kinds": event_kinds(),
    }


_HEADING = re.compile(r"<(/?)h([1-6])>")


def description_html(source: str) -> Markup:
    """The description as safe HTML (engage.markdown), its headings moved below the
    page's own (a "# Title" in it becomes an <h3>: a page keeps one <h1>)."""
    html = render_markdown(source)
    shifted = _HEADING.sub(lambda m: f"<{m[1]}h{min(int(m[2]) + 2, 6)}>", html)
    return Markup(shifted)  # noqa: S704 - sanitised by render_markdown


def _saved(request: Request) -> str:
    key = request.query_params.get("saved", "")
    return _(SAVED[key]) if key in SAVED else ""


# --- Form values ----------------------------------------------------------------------


def _local_input(value: Any, tz: str) -> str:
    """A time as ``<input type="datetime-local">`` shows it, in the event's zone."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        return value
    if value.tzinfo is not None:
        value = to_local(value, tz)
    # Seconds only when there are some (an event made through the API): kept as they are.
    return str(value.strftime("%Y-%m-%dT%H:%M:%S" if value.second else "%Y-%m-%dT%H:%M"))


def _form_values(source: Any, tz: str) -> dict[str, str]:
    """Form strings from an event or the kind's defaults (a mapping)."""
    values = {}
    for name in FIELDS:
        value = source.get(name) if isinstance(source, dict) else getattr(source, name, None)
        if name in _TIMES:
            values[name] = _local_input(value, tz)
        elif isinstance(value, bool):
            values[name] = "on" if value else ""
        else:
            values[name] = "" if value is None else str(value)
    return values


def _question_rows(questions: Any) -> list[dict[str, Any]]:
    """Editable rows for stored questions, plus a few empty ones."""
    rows = []
    for q in questions or ():
        q = q.model_dump() if hasattr(q, "model_dump") else dict(q)
        rows.append(
            {
                "id": q.get("id", ""),
                "label": q.get("label", ""),
                "type": q.get("type", "text"),
                "required": bool(q.get("required")),
                "choices": "\n".join(q.get("choices") or ()),
            }
        )
    return rows + [_empty_row() for _ in range(EXTRA_QUESTIONS)]


def _empty_row() -> dict[str, Any]:
    return {"id": "", "label": "", "type": "text", "required": False, "choices": ""}


def question_id(label: str) -> str:
    """A short name made from a label: ``"Dietary needs?"`` -> ``"dietary_needs"``."""
    plain = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "_", plain.lower()).strip("_")
    if not slug[:1].isalpha():
        slug = f"q_{slug}".rstrip("_")
    return slug[:40].rstrip("_")


def _split_choices(text: str) -> list[str]:
    parts = re.split(r"[\n,]", text) if "\n" in text or "," in text else [text]
    return [p.strip() for p in parts if p.strip()]


async def _read_questions(request: Request) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The question rows as typed (to show again) and the questions they make."""
    data = await form_data(request)
    rows, questions = [], []
    for i in range(_MAX_QUESTION_ROWS):
        if f"q{i}_label" not in data:
            break
        row = {
            "id": str(data.get(f"q{i}_id", "")).strip(),
            "label": str(data.get(f"q{i}_label", "")).strip(),
            "type": str(data.get(f"q{i}_type", "text")).strip(),
            "required": bool(data.get(f"q{i}_required")),
            "choices": str(data.get(f"q{i}_choices", "")).strip(),
        }
        if not row["label"]:
            continue  # an empty row, or a question dropped by emptying its label
        rows.append(row)
        question: dict[str, Any] = {
            "id": row["id"] or question_id(row["label"]),
            "label": row["label"],
            "type": row["type"],
            "required": row["required"],
        }
        if row["type"] == "choice":  # other types keep no choices (left typed: ignored)
            question["choices"] = _split_choices(row["choices"])
        questions.append(question)
    return rows + [_empty_row() for _ in range(EXTRA_QUESTIONS)], questions


async def _read_event(request: Request, *extra: str) -> tuple[Form, list[dict[str, Any]], dict]:
    """The form as typed, its question rows, and the input for the service."""
    form = await read_form(request, *FIELDS, *extra)
    rows, questions = await _read_questions(request)
    data: dict[str, Any] = {name: form.get(name) for name in (*FIELDS, *extra)}
    for name in _CHECKBOXES:
        data[name] = bool(form.get(name))
    for name in ("ends_at", "rsvp_deadline", "capacity"):
        data[name] = data[name] or None
    data["questions"] = questions
    return form, rows, data


# --- Lists ----------------------------------------------------------------------------


def _page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 10_000 else 1


@page("/events", access=Access.ATTACHE, name="events")
async def event_list(request: Request) -> Response:
    actor = await _actor(request)
    when = "past" if request.query_params.get("when") == "past" else "upcoming"
    number = _page_number(request)
    found = await services.list_events(
        actor, when=when, limit=PAGE_SIZE + 1, offset=(number - 1) * PAGE_SIZE
    )
    shown = found[:PAGE_SIZE]
    context = {
        "events": shown,
        "more": len(found) > PAGE_SIZE,
        "when": when,
        "page_number": number,
        "counts": {e.id: await invitation_counts(actor, e.id) for e in shown},
        "saved": _saved(request),
        **_labels(),
    }
    return render(request, "events/list.html", context)


@page("/my/events", access=Access.ALUMNUS, name="my_events")
async def my_events(request: Request) -> Response:
    actor = await _actor(request)
    alumnus = await services.alumnus_for_user(actor.user)
    upcoming: list[Event] = []
    past: list[Event] = []
    if alumnus is not None:
        upcoming = await services.events_for_alumnus(alumnus, when="upcoming")
        past = await services.events_for_alumnus(alumnus, when="past")
    context = {"alumnus": alumnus, "upcoming": upcoming, "past": past, **_labels()}
    return render(request, "events/mine.html", context)


# --- Create ---------------------------------------------------------------------------


@page("/events/new", access=Access.ATTACHE, methods=["GET", "POST"], name="event_new")
async def event_new(request: Request) -> Response:
    actor = await _actor(request)
    embassies = await list_embassies(actor=actor)
    kinds = event_kinds()
    if request.method == "POST":
        form, rows, data = await _read_event(request, "kind", "embassy")
        if (await form_data(request)).get("action") == "publish":
            data["status"] = EventStatus.PUBLISHED.value
        try:
            event = await services.create_event(
                actor, data, settings=request.app.state.settings, ip=client_ip(request)
            )
        except (InvalidInput, PermissionDenied, Conflict) as exc:
            embassy = next((e for e in embassies if e.code == form.get("embassy")), None)
            context = _new_context(embassies, kinds, form, rows, embassy)
            return form_failure(request, "events/new.html", form, exc, context)
        saved = "published" if event.status == EventStatus.PUBLISHED else "created"
        return RedirectResponse(f"/events/{event.id}?saved={saved}", status_code=303)

    chosen_kind = request.query_params.get("kind", "")
    code = request.query_params.get("embassy", "") or (
        embassies[0].code if len(embassies) == 1 else ""
    )
    form = Form(values={"kind": chosen_kind, "embassy": code})
    embassy = next((e for e in embassies if e.code == code), None)
    if chosen_kind not in kinds or embassy is None:
        if "kind" in request.query_params:
            if chosen_kind not in kinds:
                form.errors["kind"] = _("Choose the kind of event.")
            if embassy is None:
                form.errors["embassy"] = _("Choose the embassy.")
        context = _new_context(embassies, kinds, form, [], None)
        return render(request, "events/new.html", context)
    defaults = await services.kind_defaults(chosen_kind, embassy, now=utcnow())
    form.values.update(_form_values(defaults, embassy.timezone))
    rows = _question_rows(defaults.get("questions"))
    return render(request, "events/new.html", _new_context(embassies, kinds, form, rows, embassy))


def _new_context(
    embassies: list[Any],
    kinds: dict[str, Any],
    form: Form,
    rows: list[dict[str, Any]],
    embassy: Any,
) -> dict[str, Any]:
    kind = kinds.get(form.get("kind"))
    return {
        "embassies": embassies,
        "form": form,
        "questions": rows or _question_rows(()),
        "chosen": kind is not None and embassy is not None,
        "kind": kind,
        "embassy": embassy,
        "zone": zone_label(embassy.timezone) if embassy is not None else "",
        **_labels(),
    }


# --- One event ------------------------------------------------------------------------


@page("/events/{id}.ics", access=Access.ALUMNUS, name="event_ics")
async def event_calendar(request: Request) -> Response:
    """Declared before ``/events/{id}``, which would otherwise take ``5.ics`` as an id."""
    actor = await _actor(request)
    event = await services.get_event(actor, path_id(request, "id"))
    settings = request.app.state.settings
    url = f"{settings.app.base_url}/events/{event.id}"
    body = event_ics(event, event.embassy, method=Method.PUBLISH, settings=settings, url=url)
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="event-{event.id}.ics"'},
    )


@page("/events/{id}", access=Access.ALUMNUS, name="event")
async def event_detail(request: Request) -> Response:
    actor = await _actor(request)
    event = await services.get_event(actor, path_id(request, "id"))
    kind = event_kinds().get(event.kind)
    context = {
        "event": event,
        "embassy": event.embassy,
        "kind_name": kind.name if kind is not None else event.kind,
        "description_html": description_html(event.description),
        "saved": _saved(request),
        **_labels(),
    }
    if not actor.at_least(Role.ATTACHE):
        context["answerable"] = services.can_answer(event, now=utcnow())
        return render(request, "events/public.html", context)
    context.update(await invitations_block(request, actor, event))
    return render(request, "events/event.html", context)


@page("/events/{id}/edit", access=Access.ATTACHE, methods=["GET", "POST"], name="event_edit")
async def event_edit(request: Request) -> Response:
    actor = await _actor(request)
    event = await services.get_event(actor, path_id(request, "id"))
    context: dict[str, Any] = {"event": event, "zone": zone_label(event.timezone), **_labels()}
    if request.method == "GET":
        form = Form(values=_form_values(event, event.timezone))
        context["questions"] = _question_rows(event.questions)
        return render(request, "events/edit.html", {**context, "form": form})
    form, rows, data = await _read_event(request)
    context["questions"] = rows
    try:
        await services.update_event(actor, event.id, data, ip=client_ip(request))
    except (InvalidInput, PermissionDenied, Conflict) as exc:
        return form_failure(request, "events/edit.html", form, exc, context)
    return RedirectResponse(f"/events/{event.id}?saved=updated", status_code=303)


@page("/events/{id}/publish", access=Access.ATTACHE, methods=["POST"], name="event_publish")
async def event_publish(request: Request) -> Response:
    actor = await _actor(request)
    event = await services.publish_event(actor, path_id(request, "id"), ip=client_ip(request))
    return RedirectResponse(f"/events/{event.id}?saved=published", status_code=303)


@page("/events/{id}/cancel", access=Access.ATTACHE, methods=["GET", "POST"], name="event_cancel")
async def event_cancel(request: Request) -> Response:
    actor = await _actor(request)
    event = await services.get_event(actor, path_id(request, "id"))
    context = {"event": event, "embassy": event.embassy}
    if request.method == "GET":
        return render(request, "events/cancel.html", {**context, "form": Form()})
    form = await read_form(request, "reason")
    try:
        await services.cancel_event(
            actor, event.id, reason=form.get("reason"), ip=client_ip(request)
        )
    except (InvalidInput, Conflict) as exc:
        return form_failure(request, "events/cancel.html", form, exc, context)
    return RedirectResponse(f"/events/{event.id}?saved=cancelled", status_code=303)
