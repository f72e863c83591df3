"""What an RSVP answer is, how it is checked against its event, and its form fields.

::

    given = parse_answer(form_values, event)     # from the page's fields
    cleaned = clean_answer(event, given)         # InvalidInput naming each bad field
    form_values_of(invitation)                   # the current answer, to prefill a form

Fields: ``status`` (yes / no / maybe), ``guests``, ``guest_name_1``.. (when guests
must be named), ``q_<question id>`` per question of the event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engage.errors import InvalidInput
from engage.events.models import Event
from engage.i18n import _
from engage.invitations.models import Invitation, InvitationStatus

CHOICES = ("yes", "no", "maybe")
#: Longest guest name and free-text answer accepted.
NAME_MAX = 200
TEXT_MAX = 1000


@dataclass
class RsvpAnswer:
    #: "yes", "no" or "maybe".
    status: str
    guests: int = 0
    #: One per guest when the event requires named guests (ignored otherwise).
    guest_names: list[str] = field(default_factory=list)
    #: By question id: free text, one of the choices, or "yes"/"no".
    answers: dict[str, str] = field(default_factory=dict)


# --- Validation -------------------------------------------------------------------------


def clean_answer(event: Event, given: RsvpAnswer) -> RsvpAnswer:
    """``given`` checked against the event (InvalidInput naming each bad field)."""
    errors: dict[str, str] = {}
    status = given.status
    if status not in CHOICES:
        errors["status"] = _("Choose yes, no or maybe.")
    guests, names = given.guests, [str(n).strip() for n in given.guest_names]
    if status == "no":
        guests, names = 0, []
    elif guests < 0 or guests > event.guests_allowed:
        errors["guests"] = (
            _("This invitation is for you alone.")
            if event.guests_allowed == 0
            else _("Between 0 and %(most)d guests.", most=event.guests_allowed)
        )
    elif event.guests_named:
        names = (names + [""] * guests)[:guests]
        for index, name in enumerate(names, start=1):
            if not name:
                errors[f"guest_name_{index}"] = _("Give the name of each guest.")
            elif len(name) > NAME_MAX:
                errors[f"guest_name_{index}"] = _("At most %(n)d characters.", n=NAME_MAX)
    else:
        names = []
    answers: dict[str, str] = {}
    for question in event.questions or []:
        key = str(question["id"])
        value = str(given.answers.get(key, "")).strip()
        problem = _question_problem(question, value, coming=status in ("yes", "maybe"))
        if problem:
            errors[f"q_{key}"] = problem
        elif value:
            answers[key] = value
    if errors:
        raise InvalidInput(_("Some answers need another look."), fields=errors)
    return RsvpAnswer(status=status, guests=guests, guest_names=names, answers=answers)


def _question_problem(question: dict[str, Any], value: str, *, coming: bool) -> str:
    if not value:
        return _("Answer this question.") if question.get("required") and coming else ""
    kind = question.get("type", "text")
    if kind == "choice" and value not in [str(c) for c in question.get("choices") or []]:
        return _("Choose one of the options.")
    if kind == "yes_no" and value not in ("yes", "no"):
        return _("Answer yes or no.")
    if len(value) > TEXT_MAX:
        return _("At most %(n)d characters.", n=TEXT_MAX)
    return ""


def parse_answer(values: dict[str, str], event: Event) -> RsvpAnswer:
    """An answer from form fields: ``status``, ``guests``, ``guest_name_1``..,
    ``q_<question id>``."""
    raw_guests = values.get("guests", "").strip() or "0"
    if not raw_guests.isdigit() or len(raw_guests) > 4:
        raise InvalidInput(
            _("Some answers need another look."), fields={"guests": _("A number of guests.")}
        )
    guests = int(raw_guests)
    return RsvpAnswer(
        status=values.get("status", "").strip(),
        guests=guests,
        guest_names=[values.get(f"guest_name_{i}", "") for i in range(1, min(guests, 99) + 1)],
        answers={str(q["id"]): values.get(f"q_{q['id']}", "") for q in event.questions or []},
    )


def form_values_of(invitation: Invitation) -> dict[str, str]:
    """The recorded answer as form values (a waitlisted person's answer is yes)."""
    status = str(invitation.status)
    if status == InvitationStatus.WAITLISTED:
        status = "yes"
    values = {
        "status": status if status in CHOICES else "",
        "guests": str(invitation.guests),
    }
    for index, name in enumerate(invitation.guest_names or [], start=1):
        values[f"guest_name_{index}"] = str(name)
    for key, value in (invitation.answers or {}).items():
        values[f"q_{key}"] = str(value)
    return values
