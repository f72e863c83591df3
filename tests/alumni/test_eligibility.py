"""Status, "do not engage", consent, vetting and suspension keep people out of bulk mail."""

from __future__ import annotations

import pytest

from engage.alumni.eligibility import BulkKind, Reason, bulk_eligible, ineligibility
from engage.alumni.models import Alumnus, AlumnusStatus, Vetting
from engage.places.models import Country, ProgrammeStatus


async def _eligible_ids(kind: BulkKind, **kwargs) -> set[int]:
    return set(await Alumnus.filter(bulk_eligible(kind, **kwargs)).values_list("id", flat=True))


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"status": AlumnusStatus.DECEASED}, Reason.STATUS),
        ({"status": AlumnusStatus.LEFT_SERVICE}, Reason.STATUS),
        ({"do_not_engage": True, "do_not_engage_reason": "coup"}, Reason.DO_NOT_ENGAGE),
        ({"vetting": Vetting.PENDING}, Reason.PENDING),
        ({"accepts_invitations": False}, Reason.NO_CONSENT),
        ({"email": ""}, Reason.NO_EMAIL),
    ],
)
async def test_each_rule_keeps_a_person_out(db, make_alumnus, fields, reason):
    ok = await make_alumnus()
    out = await make_alumnus(**fields)
    assert await _eligible_ids(BulkKind.INVITATIONS) == {ok.id}
    assert await ineligibility(ok, BulkKind.INVITATIONS) == []
    assert reason in await ineligibility(out, BulkKind.INVITATIONS)


async def test_consent_is_per_kind(db, make_alumnus):
    person = await make_alumnus(accepts_newsletter=False)
    assert person.id in await _eligible_ids(BulkKind.INVITATIONS)
    assert person.id not in await _eligible_ids(BulkKind.NEWSLETTER)


async def test_retired_and_serving_are_eligible(db, make_alumnus):
    retired = await make_alumnus(status=AlumnusStatus.RETIRED)
    assert retired.id in await _eligible_ids(BulkKind.NEWSLETTER)


async def test_a_suspended_programme_unless_staff_override_one_run(db, make_alumnus):
    person = await make_alumnus(country="ML")
    await Country.filter(code="ML").update(programme_status=ProgrammeStatus.SUSPENDED)
    assert person.id not in await _eligible_ids(BulkKind.INVITATIONS)
    assert Reason.SUSPENDED in await ineligibility(person, BulkKind.INVITATIONS)
    assert person.id in await _eligible_ids(BulkKind.INVITATIONS, override_suspension=True)
    assert await ineligibility(person, BulkKind.INVITATIONS, override_suspension=True) == []
