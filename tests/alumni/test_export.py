"""CSV export of a directory view: scope and filters, Excel-safe cells, the audit log,
and streaming in chunks."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from engage.accounts.models import AuditEvent, Role
from engage.alumni import export as export_module
from engage.alumni.audience import AudienceFilter
from engage.alumni.export import COLUMNS, export_alumni, neutralise
from engage.alumni.models import Alumnus, TrainingRecord
from engage.errors import NotFound
from tests.alumni.generated import generate_alumni
from tests.factories import ensure_country


def _rows(body: bytes) -> list[dict[str, str]]:
    assert body.startswith(b"\xef\xbb\xbf"), "UTF-8 with a byte-order mark, for Excel"
    text = body.decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline="")))


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+254 700 000 000", "'+254 700 000 000"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("Amani", "Amani"),
        ("Jean-Pierre", "Jean-Pierre"),
        ("", ""),
        (None, ""),
        (42, "42"),
    ],
)
def test_cells_that_would_be_formulas_are_neutralised(value, cell):
    assert neutralise(value) == cell


@pytest.fixture
async def people(db, make_alumnus, make_course, make_embassy):
    await ensure_country("KE", "Kenya")
    await ensure_country("UG", "Uganda")
    await make_embassy(code="NBO", country="KE", accredited=["KE"])
    await make_embassy(code="KLA", country="UG", accredited=["UG"])
    course = await make_course(title="Command and Staff", school="Staff College")
    evil = await make_alumnus(
        country="KE",
        given_name="=CMD|' /C calc'!A0",
        family_name="@Evil",
        phone="+254 700 000 000",
        position="-Chief",
        staff_notes="Never exported",
        do_not_engage=True,
        do_not_engage_reason="Secret reason",
        secondary_email="second@example.ke",
        grade="OF-5",
        grade_level=15,
    )
    await TrainingRecord.create(alumnus=evil, course=course, class_year=2015)
    await TrainingRecord.create(alumnus=evil, course=course, class_year=2019)
    plain = await make_alumnus(
        country="KE",
        given_name="Олександр",
        family_name="Коваленко",
        secondary_email="checked@example.ke",
        secondary_verified_at=datetime(2024, 1, 1, tzinfo=UTC),
    )
    ugandan = await make_alumnus(country="UG", given_name="Okello", family_name="Mugisha")
    return {"evil": evil, "plain": plain, "ugandan": ugandan}


async def test_staff_export_every_column_safely(client, make_user, sign_in, people):
    await sign_in(client, await make_user(role=Role.STAFF))
    response = await client.get("/alumni/export.csv", params={"country": "KE"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith('attachment; filename="alumni-')
    assert response.headers["cache-control"] == "no-store"
    assert b"\r\n" in response.content, "Excel's line ends"
    rows = _rows(response.content)
    assert list(rows[0]) == list(COLUMNS)
    assert [r["family_name"] for r in rows] == ["'@Evil", "Коваленко"], "by family name"
    evil = next(r for r in rows if r["id"] == str(people["evil"].id))
    assert evil["given_name"] == "'=CMD|' /C calc'!A0"
    assert evil["family_name"] == "'@Evil"
    assert evil["phone"] == "'+254 700 000 000"
    assert evil["position"] == "'-Chief"
    assert evil["do_not_engage"] == "yes"
    assert evil["grade"] == "OF-5" and evil["country"] == "KE"
    assert evil["class_years"] == "2015 2019"
    assert (
        evil["courses"]
        == "Command and Staff (Staff College), 2015; Command and Staff (Staff College), 2019"
    )
    assert evil["secondary_email"] == "", "an unconfirmed address is not exported"
    plain = next(r for r in rows if r["id"] == str(people["plain"].id))
    assert plain["given_name"] == "Олександр" and plain["secondary_email"] == "checked@example.ke"
    text = response.content.decode("utf-8-sig")
    assert "Never exported" not in text and "Secret reason" not in text
    assert "Okello" not in text, "the filter holds"


async def test_the_export_is_audit_logged_without_personal_data(client, make_user, sign_in, people):
    await sign_in(client, await make_user(role=Role.STAFF))
    response = await client.get("/alumni/export.csv", params={"q": "Коваленко", "country": "KE"})
    assert len(_rows(response.content)) == 1
    event = await AuditEvent.get(action="alumni.export")
    assert event.details == {
        "filter": {"q": "[name search]", "country": ["KE"]},
        "rows": 1,
    }
    assert "Коваленко" not in str(event.details) and "kovalenko" not in str(event.details)


async def test_an_attache_exports_their_countries_only(client, make_user, sign_in, people):
    await sign_in(client, await make_user(role=Role.ATTACHE, embassies=["NBO"]))
    everything = _rows((await client.get("/alumni/export.csv")).content)
    assert {r["id"] for r in everything} == {str(people["evil"].id), str(people["plain"].id)}
    assert _rows((await client.get("/alumni/export.csv?country=UG")).content) == []
    assert (await client.get("/alumni/export.csv?embassy=KLA")).status_code == 404
    assert (await client.get("/alumni/export.csv?embassy=NBO")).status_code == 200
    refused = await client.get("/alumni/export.csv?grade_min=nonsense")
    assert refused.status_code == 422
    assert await AuditEvent.filter(action="alumni.export").count() == 3, "refusals log nothing"


async def test_the_service_checks_scope_before_anything_streams(db, actor_for, people):
    attache = await actor_for(Role.ATTACHE, countries=["KE"])
    with pytest.raises(NotFound):
        await export_alumni(AudienceFilter(embassy="KLA"), actor=attache)
    assert not await AuditEvent.exists(action="alumni.export")


async def test_large_exports_stream_in_chunks_with_everyone_once(db, actor_for, monkeypatch):
    monkeypatch.setattr(export_module, "CHUNK_ROWS", 97)
    await generate_alumni(1_000, first_id=7_000_000)
    staff = await actor_for(Role.STAFF)
    export = await export_alumni(AudienceFilter(), actor=staff)
    assert export.total == 1_000
    chunks = [chunk async for chunk in export.chunks()]
    assert len(chunks) > 10, "written a chunk at a time"
    rows = _rows(b"".join(chunks))
    ids = [int(r["id"]) for r in rows]
    assert len(ids) == 1_000 and len(set(ids)) == 1_000
    # Alphabetical (generated names repeat a lot: the id breaks ties across chunks).
    expected = [
        pk
        for pk, *_ in await Alumnus.all()
        .order_by("family_name", "given_name", "id")
        .values_list("id", "family_name")
    ]
    assert ids == expected
