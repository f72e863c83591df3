"""A small world whose every report figure is worked out by hand in the tests.

Countries KE and UG (Eastern Africa) and CO (South America); embassies NBO (KE, UG)
and BOG (CO); courses PME ("C-130"), TECH ("Patriot", "C-130J"), ENG (no tag).
People (confirmed unless said), ``now`` being the real clock:

=====  =======  =====================  =================  ==========================
who    country  last contacted         last engaged       training (class, end)
=====  =======  =====================  =================  ==========================
k1     KE       30 days ago            30 days ago        PME 2015, 2015-06-30
k2     KE       120 days ago           never              TECH 2018, 2018-12-31
k3     KE       never                  never              PME 2019, 2019-06-30
k4     KE       2016-01-01             never              ENG 2017, 2017-06-30
k5     KE       pending (never counted)
u1     UG       500 days ago           500 days ago       TECH 2015, 2015-06-30
u2     UG       merged into u1 (never counted)
c1     CO       800 days ago           800 days ago       PME 2010, 2010-06-30
=====  =======  =====================  =================  ==========================

Email: k2 has none; k3's primary hard-bounced (no secondary); u1's hard-bounced but
a verified secondary works. Careers: k1 OF-4 2017-01-01, OF-5 2020-07-01; k2 OF-6
2024-01-01; k3 OF-4 60 days ago; u1 OF-3 100 days ago; c1 OF-5 2009-01-01.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from engage.accounts.actor import Actor, load_actor
from engage.accounts.models import Role
from engage.alumni.models import (
    Alumnus,
    CareerEntry,
    CareerSource,
    Course,
    CourseCategory,
    TrainingRecord,
    Vetting,
)
from engage.places.models import Embassy
from tests.alumni.conftest import actor_for, make_alumnus, make_course  # noqa: F401
from tests.events.conftest import make_event  # noqa: F401
from tests.factories import ensure_country


@dataclass
class World:
    now: datetime
    staff: Actor
    nbo: Actor
    embassies: dict[str, Embassy]
    courses: dict[str, Course]
    people: dict[str, Alumnus]

    def ago(self, days: int) -> datetime:
        return self.now - timedelta(days=days)

    async def add_training(self, key: str, course: str, year: int) -> TrainingRecord:
        return await TrainingRecord.create(
            alumnus=self.people[key],
            course=self.courses[course],
            class_year=year,
            end_date=date(year, 6, 30),
        )


@pytest.fixture
async def world(db, make_alumnus, make_user, make_embassy, actor_for) -> World:  # noqa: F811
    now = datetime.now(UTC).replace(microsecond=0)

    def ago(days: int) -> datetime:
        return now - timedelta(days=days)

    for code, name, region, continent in (
        ("KE", "Kenya", "Eastern Africa", "Africa"),
        ("UG", "Uganda", "Eastern Africa", "Africa"),
        ("CO", "Colombia", "South America", "Americas"),
    ):
        await ensure_country(code, name, region=region, continent=continent)
    embassies = {
        "NBO": await make_embassy(code="NBO", country="KE", accredited=["KE", "UG"]),
        "BOG": await make_embassy(
            code="BOG", country="CO", accredited=["CO"], timezone="America/Bogota", city="Bogotá"
        ),
    }
    courses = {
        "PME": await Course.create(
            title="Command and Staff",
            school="Staff College",
            category=CourseCategory.PME,
            tags=["C-130"],
        ),
        "TECH": await Course.create(
            title="Air Defence",
            school="Fires School",
            category=CourseCategory.TECHNICAL,
            tags=["Patriot", "C-130J"],
        ),
        "ENG": await Course.create(
            title="English", school="Language Institute", category=CourseCategory.ENGLISH
        ),
    }
    people: dict[str, Alumnus] = {}

    async def person(key: str, country: str, **fields: Any) -> Alumnus:
        found = await make_alumnus(country=country, given_name=key.upper(), **fields)
        people[key] = found
        return found

    async def trained(key: str, course: str, year: int, end: date) -> None:
        await TrainingRecord.create(
            alumnus=people[key], course=courses[course], class_year=year, end_date=end
        )

    async def rank(key: str, name: str, grade: str, day: date) -> None:
        await CareerEntry.create(
            alumnus=people[key],
            rank=name,
            grade=grade,
            effective_date=day,
            source=CareerSource.STAFF_VERIFIED,
        )

    await person("k1", "KE", last_contacted_at=ago(30), last_engaged_at=ago(30))
    await person("k2", "KE", email="", last_contacted_at=ago(120))
    await person("k3", "KE", email_failing_at=ago(10))
    await person("k4", "KE", last_contacted_at=datetime(2016, 1, 1, tzinfo=UTC))
    await person("k5", "KE", vetting=Vetting.PENDING)
    await person(
        "u1",
        "UG",
        last_contacted_at=ago(500),
        last_engaged_at=ago(500),
        email_failing_at=ago(5),
        secondary_email="u1.backup@example.org",
        secondary_verified_at=ago(400),
    )
    await person("u2", "UG", merged_into=people["u1"], last_contacted_at=ago(1))
    await person("c1", "CO", last_contacted_at=ago(800), last_engaged_at=ago(800))

    await trained("k1", "PME", 2015, date(2015, 6, 30))
    await trained("k2", "TECH", 2018, date(2018, 12, 31))
    await trained("k3", "PME", 2019, date(2019, 6, 30))
    await trained("k4", "ENG", 2017, date(2017, 6, 30))
    await trained("k5", "PME", 2019, date(2019, 6, 30))
    await trained("u1", "TECH", 2015, date(2015, 6, 30))
    await trained("u2", "PME", 2015, date(2015, 6, 30))
    await trained("c1", "PME", 2010, date(2010, 6, 30))

    await rank("k1", "Lieutenant Colonel", "OF-4", date(2017, 1, 1))
    await rank("k1", "Colonel", "OF-5", date(2020, 7, 1))
    await rank("k2", "Brigadier", "OF-6", date(2024, 1, 1))
    await rank("k3", "Lieutenant Colonel", "OF-4", ago(60).date())
    await rank("u1", "Major", "OF-3", ago(100).date())
    await rank("u2", "General", "OF-9", date(2020, 1, 1))
    await rank("c1", "Coronel", "OF-5", date(2009, 1, 1))

    staff = await actor_for(Role.STAFF)
    nbo = await load_actor(await make_user(role=Role.ATTACHE, embassies=["NBO"]))
    return World(now, staff, nbo, embassies, courses, people)
