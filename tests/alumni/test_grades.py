from __future__ import annotations

from datetime import date

import pytest

from engage.accounts.actor import load_actor
from engage.accounts.models import AuditEvent, Role
from engage.alumni.grades import (
    GRADE_LEVEL,
    grade_for,
    map_rank,
    mapping_queue,
    rank_key,
    rank_tables,
    refresh_current_grade,
    table_grade,
)
from engage.alumni.models import Alumnus, CareerEntry, CareerSource, Service
from engage.errors import InvalidInput, PermissionDenied
from tests.factories import ensure_country


def test_every_shipped_table_loads_and_uses_real_grades():
    tables = rank_tables()
    assert ("_common", "army") in tables and ("VN", "all") in tables
    for table in tables.values():
        assert set(table.values()) <= set(GRADE_LEVEL)


def test_rank_keys_fold_case_accents_scripts_and_punctuation():
    assert rank_key("Đại tá") == rank_key("dai ta") == "dai ta"
    assert rank_key("Sub-Lieutenant") == rank_key("sub lieutenant")
    assert rank_key("  COLONEL ") == "colonel"


@pytest.mark.parametrize(
    ("country", "service", "rank", "grade"),
    [
        ("VN", Service.ARMY, "Đại tá", "OF-5"),
        ("VN", Service.NAVY, "Dai ta", "OF-5"),  # the country's "all" table
        ("VN", Service.NAVY, "Phó Đô đốc", "OF-7"),
        ("KE", Service.ARMY, "Brigadier", "OF-6"),
        ("CO", Service.NAVY, "Capitán de Navío", "OF-5"),
        ("UA", Service.ARMY, "Полковник", "OF-5"),
        ("FR", Service.ARMY, "Colonel", "OF-5"),  # common English names
        ("FR", Service.NAVY, "Captain", "OF-5"),  # ...per service
        ("FR", Service.ARMY, "Captain", "OF-2"),
        ("FR", Service.ARMY, "Général de corps d'armée", ""),  # never guessed
    ],
)
def test_table_lookup(country, service, rank, grade):
    assert table_grade(country, service, rank) == grade


async def test_unknown_rank_is_queued_once_and_mapped_by_staff(db, make_user):
    await ensure_country("FR", "France")
    person = await Alumnus.create(
        given_name="Jean", family_name="Dupont", country_id="FR", service=Service.ARMY
    )
    await CareerEntry.create(
        alumnus=person,
        rank="Général de corps d'armée",
        grade=await grade_for("FR", Service.ARMY, "Général de corps d'armée"),
        effective_date=date(2024, 1, 1),
        source=CareerSource.STAFF_VERIFIED,
    )
    assert await grade_for("FR", Service.ARMY, "general de corps d'armee") == ""
    queue = await mapping_queue()
    assert len(queue) == 1 and queue[0].rank_key == "general de corps d'armee"
    await refresh_current_grade(person.id)
    await person.refresh_from_db()
    assert person.grade == "" and person.grade_level is None

    alumnus_user = await load_actor(await make_user(role=Role.ALUMNUS))
    with pytest.raises(PermissionDenied):
        await map_rank(queue[0].id, "OF-8", actor=alumnus_user)
    staff = await load_actor(await make_user(role=Role.STAFF))
    with pytest.raises(InvalidInput):
        await map_rank(queue[0].id, "OF-42", actor=staff)
    await map_rank(queue[0].id, "OF-8", actor=staff)
    await person.refresh_from_db()
    assert person.grade == "OF-8" and person.grade_level == GRADE_LEVEL["OF-8"]
    assert await mapping_queue() == []
    assert await grade_for("FR", Service.ARMY, "Général de corps d'armée") == "OF-8"
    assert await AuditEvent.filter(action="rank.map").count() == 1
