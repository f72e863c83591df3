"""CSV import: reading files (BOM, line endings, Excel quoting, scripts), rejected rows
by line number, matching and the import rule, dry runs, re-imports (SQLite and
PostgreSQL)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest

from engage.accounts.models import AuditEvent, Role
from engage.alumni.csv_format import COLUMN_NAMES, ImportFileError, template_csv
from engage.alumni.importer import run_import
from engage.alumni.models import (
    Alumnus,
    CareerEntry,
    CareerSource,
    Course,
    ErasedIdentity,
    ImportJob,
    ImportStatus,
    RankMapping,
    SearchToken,
    TrainingRecord,
    Vetting,
)
from engage.alumni.rights import email_hash
from engage.errors import PermissionDenied
from tests.factories import ensure_country

HEADER = (
    "programme_id,email,given_name,family_name,given_name_latin,family_name_latin,"
    "country,service,rank,rank_date,course_title,course_school,class_year,start_date,"
    "end_date,funding_type,graduated"
)


def csv_bytes(*lines: str, newline: str = "\n", bom: bool = False) -> bytes:
    text = newline.join(lines) + newline
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")


def row(**cells: str) -> str:
    """One CSV line in HEADER's order (quoted like Excel where needed)."""
    values = [cells.get(name, "") for name in HEADER.split(",")]
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(values)
    return out.getvalue().removesuffix("\r\n")


@pytest.fixture
async def countries(db):
    for code, name in [("KE", "Kenya"), ("VN", "Viet Nam"), ("UA", "Ukraine"), ("CO", "Colombia")]:
        await ensure_country(code, name)


@pytest.fixture
async def staff(actor_for):
    return await actor_for(Role.STAFF)


async def test_a_clean_file_creates_confirmed_profiles_with_training_and_rank(
    countries, staff, settings
):
    data = csv_bytes(
        HEADER,
        row(
            programme_id="P-1",
            email="Amani.Wanjiru@Example.KE",
            given_name="Amani",
            family_name="Wanjiru",
            country="KE",
            service="Army",
            rank="Colonel",
            rank_date="2023-07-01",
            course_title="Command and General Staff",
            course_school="CGSC",
            class_year="2019",
            start_date="2018-08-06",
            end_date="2019-06-14",
            funding_type="imet",
            graduated="yes",
        ),
        row(
            programme_id="P-2",
            given_name="Văn Thành",
            family_name="Nguyễn",
            country="Viet Nam",
            rank="Đại tá",
            course_title="Command and General Staff",
            course_school="cgsc",
            end_date="2016-05-27",
        ),
    )
    report = await run_import(data, actor=staff, settings=settings, dry_run=False)
    assert (report.created, report.updated, report.unchanged, report.rejected) == (2, 0, 0, [])
    assert report.status == "done" and report.job_id is not None
    amani = await Alumnus.get(programme_id="P-1")
    assert amani.email_key == "amani.wanjiru@example.ke"
    assert amani.vetting == Vetting.CONFIRMED and amani.confirmed_by_id == staff.id
    assert amani.accepts_invitations and amani.accepts_newsletter
    assert amani.invitations_consent_source == "imported" and amani.newsletter_consent_at
    assert (amani.rank, amani.grade, amani.grade_level) == ("Colonel", "OF-5", 15)
    entry = await CareerEntry.get(alumnus_id=amani.id)
    assert entry.source == CareerSource.STAFF_VERIFIED and entry.effective_date == date(2023, 7, 1)
    # One course, found case-insensitively the second time.
    assert await Course.all().count() == 1
    training = await TrainingRecord.get(alumnus_id=amani.id)
    assert training.funding_type == "IMET" and training.class_year == 2019 and training.graduated
    nguyen = await Alumnus.get(programme_id="P-2")
    assert nguyen.country_id == "VN" and nguyen.grade == "OF-5"
    assert (await TrainingRecord.get(alumnus_id=nguyen.id)).class_year == 2016
    tokens = set(await SearchToken.filter(alumnus_id=nguyen.id).values_list("token", flat=True))
    assert {"nguyen", "van", "thanh"} <= tokens
    job = await ImportJob.get(id=report.job_id)
    assert job.status == ImportStatus.DONE and (job.created, job.next_row) == (2, 2)
    event = await AuditEvent.get(action="alumni.import")
    assert event.actor_id == staff.id
    assert event.details == {
        "rows": 2,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
        "by": "staff",
    }


async def test_the_same_file_twice_changes_nothing(countries, staff, settings):
    data = csv_bytes(
        HEADER,
        *[
            row(
                programme_id=f"P-{n}",
                email=f"person{n}@example.org",
                given_name="Illia",
                family_name=f"Коваленко{n}",
                country="UA",
                service="army",
                rank="Полковник",
                course_title="Air Command and Staff",
                course_school="ACSC",
                end_date="2016-05-27",
                funding_type="FMS",
            )
            for n in range(1, 6)
        ],
        row(email="no-id@example.org", given_name="Ana", family_name="Ruiz", country="CO"),
    )
    first = await run_import(data, actor=staff, settings=settings, dry_run=False)
    assert (first.created, first.unchanged) == (6, 0)
    second = await run_import(data, actor=staff, settings=settings, dry_run=False)
    assert (second.created, second.updated, second.unchanged, second.rejected) == (0, 0, 6, [])
    assert await Alumnus.all().count() == 6
    assert await TrainingRecord.all().count() == 5
    assert await CareerEntry.all().count() == 5
    assert await ImportJob.filter(status=ImportStatus.DONE).count() == 2
    assert not await AuditEvent.filter(action="alumnus.import").exists()


async def test_dry_run_writes_nothing(countries, staff, settings):
    data = csv_bytes(
        HEADER,
        row(programme_id="P-1", given_name="A", family_name="B", country="KE", rank="Field Bishop"),
        row(programme_id="P-2", given_name="C", family_name="D", country="Narnia"),
        row(
            programme_id="P-3",
            given_name="E",
            family_name="F",
            country="KE",
            course_title="New course",
            course_school="School",
        ),
    )
    events = await AuditEvent.all().count()
    report = await run_import(data, actor=staff, settings=settings, dry_run=True)
    assert report.dry_run and report.job_id is None
    assert (report.created, report.updated, report.unchanged) == (2, 0, 0)
    assert [line for line, _reason in report.rejected] == [3]
    assert report.queued_ranks == ["KE other: Field Bishop"]
    assert report.courses_created == 1
    for model in (Alumnus, ImportJob, RankMapping, Course, CareerEntry):
        assert not await model.all().exists(), model.__name__
    assert await AuditEvent.all().count() == events


async def test_each_rejection_reason_with_its_line_number(countries, staff, settings, make_alumnus):
    await make_alumnus(programme_id="HELD", email="held@example.org", country="KE")
    erased = "erased@example.org"
    await ErasedIdentity.create(
        email_hash=email_hash(erased, settings), erased_at=datetime.now(UTC)
    )
    ok = {"given_name": "Ok", "family_name": "Row", "country": "KE"}
    data = csv_bytes(
        HEADER,  # line 1
        row(programme_id="R-2", email="not-an-email", **ok),  # 2
        row(programme_id="R-3", given_name="X", family_name="Y", country="Atlantis"),  # 3
        row(programme_id="R-4", course_title="C", course_school="S", start_date="14/06/2019", **ok),
        row(programme_id="R-5", course_title="C", course_school="S", class_year="19", **ok),  # 5
        row(programme_id="R-6", course_title="C", course_school="S", funding_type="Grant", **ok),
        row(programme_id="R-7", email="dup@example.org", **ok),  # 7
        row(programme_id="R-7", email="other@example.org", **ok),  # 8: same programme ID
        row(programme_id="R-9", email="DUP@example.org", **ok),  # 9: same email
        row(programme_id="R-10", given_name="", family_name="", country="KE"),  # 10
        row(programme_id="R-11", email=erased, **ok),  # 11
        row(given_name="No", family_name="Key", country="KE"),  # 12
        row(programme_id="R-13", email="held@example.org", **ok),  # 13
        row(programme_id="R-14", **ok),  # 14: fine
    )
    report = await run_import(data, actor=staff, settings=settings, dry_run=False)
    reasons = dict(report.rejected)
    assert sorted(reasons) == [2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13]
    assert "Bad email address" in reasons[2]
    assert "Unknown country" in reasons[3] and "Atlantis" in reasons[3]
    assert "Bad date in start_date" in reasons[4] and "14/06/2019" in reasons[4]
    assert "Bad class year" in reasons[5]
    assert "Unknown funding type" in reasons[6] and "IMET" in reasons[6]
    assert "Duplicate of line 7 (same programme ID)" in reasons[8]
    assert "Duplicate of line 7 (same email)" in reasons[9]
    assert "Missing name: given_name, family_name" in reasons[10]
    assert "erased" in reasons[11]
    assert "No programme ID or email" in reasons[12]
    assert "another profile" in reasons[13] and "HELD" in reasons[13]
    assert "not-an-email" not in str(report.rejected), "no email addresses in reasons"
    assert (report.created, report.updated, report.unchanged) == (2, 0, 0)
    assert await Alumnus.filter(programme_id__in=["R-7", "R-14"]).count() == 2
    job = await ImportJob.get(id=report.job_id)
    assert job.rejected == 11 and len(job.report["rejected"]) == 11


async def test_bom_crlf_cr_and_excel_quoting(countries, staff, settings):
    lines = [
        HEADER,
        row(
            programme_id="Q-1",
            given_name="Jean, Pierre",
            family_name='O"Neil',
            country="KE",
            course_title="Line one\r\nline two",
            course_school="School",
        ),
        row(programme_id="Q-2", given_name="Aigerim", family_name="Нурлановна", country="KE"),
    ]
    for newline in ("\r\n", "\n", "\r"):
        await Alumnus.all().delete()
        data = csv_bytes(*lines, newline=newline, bom=True)
        report = await run_import(data, actor=staff, settings=settings, dry_run=False)
        assert (report.created, report.rejected) == (2, []), newline
        first = await Alumnus.get(programme_id="Q-1")
        assert (first.given_name, first.family_name) == ("Jean, Pierre", 'O"Neil')
        assert (await Alumnus.get(programme_id="Q-2")).family_name == "Нурлановна"
    # The quoted line break makes row Q-1 span lines 2 and 3: Q-2 starts on line 4.
    data = csv_bytes(*lines, row(programme_id="Q-4", **{"given_name": "x"}), newline="\r\n")
    report = await run_import(data, actor=staff, settings=settings, dry_run=True)
    assert [line for line, _reason in report.rejected] == [5]


async def test_names_in_several_scripts_and_header_spellings(countries, staff, settings):
    data = csv_bytes(
        "Programme ID;E-mail;Given Name;FAMILY_NAME;Country;Notes",
        "Z-1;;Олександр;Коваленко;Ukraine;x",
        "Z-2;;伟;张;KE;",
        "Z-3;;محمد;العتيبي;ken;",
        "Z-4;;José;García;colombia;",
    )
    report = await run_import(data, actor=staff, settings=settings, dry_run=False)
    assert report.rejected == [] and report.created == 4
    assert report.unknown_columns == ["notes"]
    names = dict(await Alumnus.all().values_list("programme_id", "family_name"))
    assert names == {"Z-1": "Коваленко", "Z-2": "张", "Z-3": "العتيبي", "Z-4": "García"}


async def test_unreadable_files_raise(countries, staff, settings):
    for data in (b"", b"given_name,family_name\n", "ü".encode("latin-1") * 3):
        with pytest.raises(ImportFileError):
            await run_import(data, actor=staff, settings=settings, dry_run=True)


async def test_attaches_may_not_import(countries, actor_for, settings):
    attache = await actor_for(Role.ATTACHE, countries=["KE"])
    with pytest.raises(PermissionDenied):
        await run_import(csv_bytes(HEADER), actor=attache, settings=settings, dry_run=True)


async def test_the_template_imports_cleanly(db, staff, settings):
    from engage.places.seed import seed_countries

    await seed_countries()
    data = template_csv()
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.decode("utf-8-sig").splitlines()[0].split(",") == list(COLUMN_NAMES)
    report = await run_import(data, actor=staff, settings=settings, dry_run=False)
    assert (report.created, report.rejected, report.queued_ranks) == (2, [], [])


async def test_an_existing_profile_follows_the_import_rule(
    countries, staff, settings, make_alumnus, make_course
):
    course = await make_course(title="Command and General Staff", school="CGSC")
    edited = await make_alumnus(
        programme_id="E-1",
        email="own@example.ke",
        family_name="Wanjiru",
        phone="",
        position="J3",
        contact_edited_at=datetime(2025, 3, 1, tzinfo=UTC),
        accepts_newsletter=False,
        vetting=Vetting.PENDING,
    )
    await TrainingRecord.create(
        alumnus=edited, course=course, class_year=2019, funding_type="", graduated=False
    )
    untouched = await make_alumnus(email="Fresh@Example.org", family_name="Otieno")
    data = csv_bytes(
        HEADER + ",phone,position",
        row(
            programme_id="E-1",
            email="roster@example.ke",
            given_name="Amani",
            family_name="Wanjiru-Otieno",
            country="KE",
            course_title="command and general staff",
            course_school="cgsc",
            class_year="2019",
            funding_type="IMET",
            graduated="yes",
        )
        + ",+254 700 000 000,Defence attaché",
        # Matched by email (case-insensitive); takes the programme ID it lacked.
        row(
            programme_id="E-2",
            email="fresh@example.org",
            given_name="Amani",
            family_name="Otieno",
            country="KE",
        )
        + ",+254 711 000 000,",
    )
    dry = await run_import(data, actor=staff, settings=settings, dry_run=True)
    report = await run_import(data, actor=staff, settings=settings, dry_run=False)
    for result in (dry, report):
        assert (result.created, result.updated, result.unchanged, result.rejected) == (0, 2, 0, [])
        assert result.kept_contact == 1
    await edited.refresh_from_db()
    # Edited contact details stay the alumnus's; roster facts and training are the file's.
    assert (edited.email, edited.phone, edited.position) == ("own@example.ke", "", "J3")
    assert edited.family_name == "Wanjiru-Otieno" and not edited.accepts_newsletter
    assert edited.vetting == Vetting.CONFIRMED and edited.confirmed_by_id == staff.id
    assert "otieno" in await SearchToken.filter(alumnus_id=edited.id).values_list(
        "token", flat=True
    )
    training = await TrainingRecord.get(alumnus_id=edited.id)
    assert training.funding_type == "IMET" and training.graduated
    assert await Course.all().count() == 1
    await untouched.refresh_from_db()
    assert untouched.programme_id == "E-2" and untouched.phone == "+254 711 000 000"
    assert await AuditEvent.filter(action="alumnus.import").count() == 2
    again = await run_import(data, actor=staff, settings=settings, dry_run=False)
    assert (again.updated, again.unchanged) == (0, 2)


async def test_an_unmapped_rank_is_queued_and_the_row_imported(countries, staff, settings):
    data = csv_bytes(
        HEADER,
        row(
            programme_id="U-1",
            given_name="A",
            family_name="B",
            country="KE",
            service="army",
            rank="Field Bishop",
        ),
        row(
            programme_id="U-2",
            given_name="C",
            family_name="D",
            country="KE",
            service="army",
            rank="field  bishop",
        ),
        row(
            programme_id="U-3",
            given_name="E",
            family_name="F",
            country="KE",
            service="army",
            rank="Major",
        ),
    )
    report = await run_import(data, actor=staff, settings=settings, dry_run=False)
    assert (report.created, report.rejected) == (3, [])
    assert report.queued_ranks == ["KE army: Field Bishop"]
    queued = await RankMapping.get(country_id="KE", service="army")
    assert queued.grade == "" and queued.rank_key == "field bishop"
    waiting = await Alumnus.get(programme_id="U-1")
    assert (waiting.rank, waiting.grade, waiting.grade_level) == ("Field Bishop", "", None)
    assert (await Alumnus.get(programme_id="U-3")).grade == "OF-3"
    assert await CareerEntry.filter(grade="").count() == 2


async def test_a_new_rank_on_an_existing_profile_adds_a_career_entry_once(
    countries, staff, settings, make_alumnus
):
    person = await make_alumnus(programme_id="C-1", country="KE")
    data = csv_bytes(
        HEADER,
        row(
            programme_id="C-1",
            given_name="Amani",
            family_name=person.family_name,
            country="KE",
            service="army",
            rank="Brigadier",
            rank_date="2024-01-01",
        ),
    )
    first = await run_import(data, actor=staff, settings=settings, dry_run=False)
    assert (first.updated, first.unchanged) == (1, 0)
    await person.refresh_from_db()
    assert (person.rank, person.grade) == ("Brigadier", "OF-6")
    second = await run_import(data, actor=staff, settings=settings, dry_run=False)
    assert (second.updated, second.unchanged) == (0, 1)
    assert await CareerEntry.filter(alumnus_id=person.id).count() == 1


async def test_merged_profiles_lead_to_the_kept_one_and_conflicts_are_reported(
    countries, staff, settings, make_alumnus
):
    kept = await make_alumnus(programme_id="M-1", email="kept@example.org")
    merged = await make_alumnus(email="old@example.org", merged_into=kept)
    other = await make_alumnus(email="taken@example.org")
    data = csv_bytes(
        HEADER,
        row(email="old@example.org", given_name="Amani", family_name="Renamed", country="KE"),
        row(
            programme_id="M-1",
            email="taken@example.org",
            given_name="Amani",
            family_name="Kept",
            country="KE",
        ),
    )
    report = await run_import(data, actor=staff, settings=settings, dry_run=False)
    assert report.created == 0
    assert [line for line, _r in report.rejected] == [3]  # both rows are the kept profile
    assert "same profile as line 2" in report.rejected[0][1]
    await kept.refresh_from_db()
    await merged.refresh_from_db()
    assert kept.family_name == "Renamed" and merged.family_name != "Renamed"
    # A value another profile holds is not applied, and the report says so.
    data = csv_bytes(
        HEADER,
        row(
            programme_id="M-1",
            email="taken@example.org",
            given_name="Amani",
            family_name="Kept",
            country="KE",
        ),
    )
    report = await run_import(data, actor=staff, settings=settings, dry_run=False)
    assert report.updated == 1 and report.conflicts == [
        (2, "email not changed: another profile has it.")
    ]
    await kept.refresh_from_db()
    assert kept.email == "kept@example.org" and kept.family_name == "Kept"
    assert (await Alumnus.get(id=other.id)).email == "taken@example.org"


async def test_utf16_tab_separated_as_excel_saves_unicode_text(countries, staff, settings):
    text = "programme_id\tgiven_name\tfamily_name\tcountry\r\nT-1\tОлександр\tКоваленко\tUA\r\n"
    report = await run_import(
        b"\xff\xfe" + text.encode("utf-16-le"), actor=staff, settings=settings, dry_run=False
    )
    assert (report.created, report.rejected) == (1, [])
    assert (await Alumnus.get(programme_id="T-1")).given_name == "Олександр"


async def test_a_resumed_job_counts_as_one_import(countries, staff, settings, monkeypatch):
    from engage.alumni import importer

    monkeypatch.setattr(importer, "CHUNK_ROWS", 2)
    data = csv_bytes(
        HEADER,
        *[
            row(programme_id=f"J-{i}", given_name="A", family_name=f"B{i}", country="KE")
            for i in range(5)
        ],
        row(programme_id="J-bad", given_name="A", family_name="B", country="??"),
    )
    prepared = await importer.prepare_import(data, actor=staff, settings=settings, filename="j.csv")

    def stop_after_two_chunks(done: int, total: int) -> None:
        if done == 4:
            raise KeyboardInterrupt  # as if the process stopped here

    with pytest.raises(KeyboardInterrupt):
        await importer.apply_import(prepared, progress=stop_after_two_chunks)
    job = await ImportJob.get(id=prepared.job_id)
    assert (job.status, job.next_row, job.created) == (ImportStatus.RUNNING, 4, 4)
    report = await run_import(data, actor=staff, settings=settings, dry_run=False)
    assert report.job_id == job.id and report.resumed_from == 4
    assert (report.created, [line for line, _r in report.rejected]) == (5, [7])
    assert await ImportJob.all().count() == 1 and await Alumnus.all().count() == 5
