"""Who may receive bulk mail: the one rule (DESIGN.md) that invitations, reminders,
messages to invitees and newsletters all use.

Bulk mail goes only to people who are confirmed (not a pending registration), live
(not merged, not erased), reachable (a primary address), consenting to that kind of
mail, not flagged "do not engage", not deceased or left service, and whose
country's programme is not suspended (unless staff override one run), and whose
address is not on the suppression list for that kind of mail (unsubscribed, hard
bounce, complaint: ``engage.mail.suppression``). The worker asks the rule again at
send time (``engage.alumni.consent``).

::

    query = confirmed_alumni().filter(bulk_eligible(BulkKind.NEWSLETTER))
    reasons = ineligibility(person, BulkKind.INVITATIONS)   # [] when eligible
"""

from __future__ import annotations

from enum import StrEnum

from tortoise.expressions import Q

from engage.alumni.models import Alumnus, AlumnusStatus, Vetting
from engage.i18n import N_
from engage.mail.models import Topic
from engage.mail.suppression import suppressed_alumni_q
from engage.places.models import ProgrammeStatus

#: Statuses that never receive bulk mail.
NO_BULK_STATUSES = (AlumnusStatus.DECEASED, AlumnusStatus.LEFT_SERVICE)


class BulkKind(StrEnum):
    INVITATIONS = "invitations"
    NEWSLETTER = "newsletter"


class Reason(StrEnum):
    """Why a person is skipped (shown in previews: "skipped and why")."""

    PENDING = "pending_identity"
    GONE = "merged_or_erased"
    NO_EMAIL = "no_email"
    NO_CONSENT = "no_consent"
    DO_NOT_ENGAGE = "do_not_engage"
    STATUS = "deceased_or_left_service"
    SUSPENDED = "programme_suspended"
    #: The address is on the suppression list for this kind of mail.
    SUPPRESSED = "suppressed"


#: Each reason in words (untranslated: pass through ``_()`` when shown).
_REASON_LABELS = {
    Reason.PENDING: N_("Identity still pending"),
    Reason.GONE: N_("Merged into another profile, or erased"),
    Reason.NO_EMAIL: N_("No email address"),
    Reason.DO_NOT_ENGAGE: N_("Flagged “do not engage”"),
    Reason.STATUS: N_("Deceased, or left the service"),
    Reason.SUSPENDED: N_("Their country's programme is suspended"),
    Reason.SUPPRESSED: N_("Unsubscribed, or their address bounced"),
}
_NO_CONSENT_LABELS = {
    "invitations": N_("No consent to invitations"),
    "newsletter": N_("Does not accept the newsletter"),
}


def reason_labels(kind: BulkKind) -> dict[str, str]:
    """Every reason of the rule for ``kind`` in words, by reason value (the pages'
    "left out and why")."""
    labels = {reason.value: label for reason, label in _REASON_LABELS.items()}
    labels[Reason.NO_CONSENT.value] = _NO_CONSENT_LABELS[kind.value]
    return labels


def _consent_field(kind: BulkKind) -> str:
    return "accepts_invitations" if kind is BulkKind.INVITATIONS else "accepts_newsletter"


def topic_of(kind: BulkKind) -> Topic:
    """The outbox topic (and suppression scope) of ``kind``."""
    return Topic(kind.value)


def suppressed_q(kind: BulkKind) -> Q:
    """The people whose address is suppressed for ``kind`` (for a reason ``CASE``)."""
    return suppressed_alumni_q(topic_of(kind))


def bulk_eligible(kind: BulkKind, *, override_suspension: bool = False) -> Q:
    """The rule as a filter on Alumnus (compiles into the audience's one query)."""
    rule = Q(
        vetting=Vetting.CONFIRMED,
        merged_into_id=None,
        erased_at=None,
        email_key__isnull=False,
        do_not_engage=False,
        **{_consent_field(kind): True},
    ) & ~Q(status__in=list(NO_BULK_STATUSES))
    rule &= ~suppressed_q(kind)
    if not override_suspension:
        rule &= Q(country__programme_status=ProgrammeStatus.ACTIVE)
    return rule


async def ineligibility(
    alumnus: Alumnus, kind: BulkKind, *, override_suspension: bool = False
) -> list[Reason]:
    """Every reason ``alumnus`` is left out of ``kind`` (empty: eligible)."""
    reasons = []
    if alumnus.vetting != Vetting.CONFIRMED:
        reasons.append(Reason.PENDING)
    if alumnus.merged_into_id is not None or alumnus.erased_at is not None:  # type: ignore[attr-defined]
        reasons.append(Reason.GONE)
    if not alumnus.email_key:
        reasons.append(Reason.NO_EMAIL)
    if not getattr(alumnus, _consent_field(kind)):
        reasons.append(Reason.NO_CONSENT)
    if alumnus.do_not_engage:
        reasons.append(Reason.DO_NOT_ENGAGE)
    if alumnus.status in NO_BULK_STATUSES:
        reasons.append(Reason.STATUS)
    if not override_suspension:
        await alumnus.fetch_related("country")
        if alumnus.country.programme_status != ProgrammeStatus.ACTIVE:
            reasons.append(Reason.SUSPENDED)
    if alumnus.email_key and await Alumnus.filter(suppressed_q(kind), id=alumnus.id).exists():
        reasons.append(Reason.SUPPRESSED)
    return reasons
