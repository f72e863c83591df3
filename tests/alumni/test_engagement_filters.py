"""The contact and engagement criteria of the shared audience filter: in the service,
the directory page (form and list), a saved segment and the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engage.accounts.models import Role
from engage.alumni.audience import (
    AudienceFilter,
    audience_query,
    filter_from,
    months_before,
    parse_filter,
)
from engage.alumni.segments import create_segment, segment_audience
from engage.clock import utcnow
from engage.errors import InvalidInput


@pytest.fixture
async def people(db, make_alumnus, make_embassy):
    """Four people, by when they were last contacted and engaged (days ago)."""
    await make_embassy(code="NBO", country="KE", accredited=["KE"])
    now = utcnow()

    def ago(days: int | None) -> datetime | None:
        return None if days is None else now - timedelta(days=days)

    plan = {
        "Never": (None, None),
        "Recent": (30, 60),
        "Middle": (200, None),
        "Old": (800, 800),
    }
    for name, (contacted, engaged) in plan.items():
        await make_alumnus(
            country="KE",
            given_name=name,
            family_name="Person",
            last_contacted_at=ago(contacted),
            last_engaged_at=ago(engaged),
        )


CASES = [
    ({"contacted_within_months": 3}, {"Recent"}),
    ({"contacted_within_months": 12}, {"Recent", "Middle"}),
    ({"not_contacted_months": 6}, {"Middle", "Old", "Never"}),
    ({"not_contacted_months": 6, "never_contacted": False}, {"Middle", "Old"}),
    ({"never_contacted": True}, {"Never"}),
    ({"never_contacted": False}, {"Recent", "Middle", "Old"}),
    ({"not_engaged_months": 18}, {"Middle", "Old", "Never"}),
    ({"not_engaged_months": 1}, {"Recent", "Middle", "Old", "Never"}),
    # Contacted between 3 and 24 months ago.
    ({"contacted_within_months": 24, "not_contacted_months": 3}, {"Middle"}),
]


async def _names(flt: AudienceFilter, actor) -> set[str]:
    return set(await audience_query(flt, actor=actor).values_list("given_name", flat=True))


@pytest.mark.parametrize(("data", "expected"), CASES)
async def test_each_criterion_selects_by_the_summary_columns(people, actor_for, data, expected):
    staff = await actor_for(Role.STAFF)
    assert await _names(filter_from(data), staff) == expected


async def test_the_criteria_parse_from_a_query_string_and_say_what_is_wrong(db):
    flt = parse_filter(
        {"contacted_within_months": "12", "never_contacted": "false", "not_engaged_months": ""}
    )
    assert flt.to_json() == {"contacted_within_months": 12, "never_contacted": False}
    assert flt.query_items() == [("contacted_within_months", "12"), ("never_contacted", "false")]
    for field, value in [
        ("contacted_within_months", "0"),
        ("not_contacted_months", "601"),
        ("not_engaged_months", "a year"),
        ("never_contacted", "perhaps"),
    ]:
        with pytest.raises(InvalidInput) as caught:
            parse_filter({field: value})
        assert set(caught.value.fields) == {field}


def test_months_count_back_in_calendar_months():
    at = datetime(2026, 5, 31, 14, 30, tzinfo=UTC)
    assert months_before(at, 3) == datetime(2026, 2, 28, 14, 30, tzinfo=UTC)
    assert months_before(at.replace(year=2024), 3) == datetime(2024, 2, 29, 14, 30, tzinfo=UTC)
    assert months_before(datetime(2026, 1, 15, tzinfo=UTC), 1) == datetime(2025, 12, 15, tzinfo=UTC)
    assert months_before(datetime(2026, 1, 15, tzinfo=UTC), 25) == datetime(
        2023, 12, 15, tzinfo=UTC
    )


async def test_a_saved_segment_keeps_the_criteria(people, actor_for):
    staff = await actor_for(Role.STAFF)
    flt = filter_from({"not_contacted_months": 12, "never_contacted": False})
    segment = await create_segment("Lapsed a year", flt, actor=staff)
    assert segment.filters == {"not_contacted_months": 12, "never_contacted": False}
    found = await segment_audience(segment.id, actor=staff)
    assert set(await found.values_list("given_name", flat=True)) == {"Old"}


async def test_the_directory_page_offers_and_applies_the_criteria(
    client, make_user, sign_in, people
):
    await sign_in(client, await make_user(role=Role.STAFF))
    page = await client.get("/alumni")
    for name in (
        "contacted_within_months",
        "not_contacted_months",
        "never_contacted",
        "not_engaged_months",
    ):
        assert f'name="{name}"' in page.text
    found = await client.get("/alumni", params={"never_contacted": "true"})
    assert found.status_code == 200
    assert "1 person" in found.text and "Never" in found.text and "Recent" not in found.text
    lapsed = await client.get(
        "/alumni", params={"not_contacted_months": "6", "never_contacted": "false"}
    )
    assert "2 people" in lapsed.text and 'value="6"' in lapsed.text
    assert "Not contacted for (months)" in lapsed.text
    bad = await client.get("/alumni", params={"not_engaged_months": "0"})
    assert bad.status_code == 422 and 'value="0"' in bad.text
    assert "A number of months, e.g. 18." in bad.text


async def test_the_api_directory_accepts_the_criteria(client, make_user, sign_in, people):
    await sign_in(client, await make_user(role=Role.STAFF))
    response = await client.get(
        "/api/v1/alumni", params={"contacted_within_months": "24", "not_contacted_months": "3"}
    )
    assert response.status_code == 200, response.text
    (item,) = response.json()["items"]
    assert item["given_name"] == "Middle" and item["last_engaged_at"] is None
    contacted = datetime.fromisoformat(item["last_contacted_at"])
    assert months_before(utcnow(), 7) < contacted < months_before(utcnow(), 6)
    bad = await client.get("/api/v1/alumni", params={"contacted_within_months": "-1"})
    assert bad.status_code == 422
    assert "contacted_within_months" in bad.json()["error"]["fields"]
