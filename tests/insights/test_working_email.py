"""The shared filter's ``has_working_email``: what the "no working email" list of
Lapsed and lost saves as a segment."""

from __future__ import annotations

from engage.alumni.addresses import deliverable_address
from engage.alumni.audience import AudienceFilter, audience_query, parse_filter


async def test_no_working_email_is_no_deliverable_address(world):
    found = await audience_query(AudienceFilter(has_working_email=False), actor=world.staff)
    # k2 has no address, k3's bounced with no secondary; u1 falls back to a verified one.
    assert {p.given_name for p in found} == {"K2", "K3"}
    working = await audience_query(AudienceFilter(has_working_email=True), actor=world.staff)
    assert {p.given_name for p in working} == {"K1", "K4", "K5", "U1", "C1"}
    for person in working:  # mail goes to an address that has not bounced
        address = deliverable_address(person)
        assert address and (address != person.email or person.email_failing_at is None)


async def test_the_filter_reads_from_a_query_string(world):
    flt = parse_filter({"has_working_email": "false", "country": "KE"})
    assert flt.to_json() == {"country": ["KE"], "has_working_email": False}
    people = await audience_query(flt, actor=world.nbo)
    assert {p.given_name for p in people} == {"K2", "K3"}
