"""Helpers for directory tests: counting the SQL statements a block sends, and
alumni generated in bulk (names in several scripts, training, search tokens).

::

    await generate_alumni(10_000, first_id=1_000_000)
    with count_queries() as queries:
        await search_directory(flt, actor=staff)
    len(queries)
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Iterator

from engage.alumni.models import (
    Alumnus,
    AlumnusStatus,
    Course,
    CourseCategory,
    SearchToken,
    Service,
    TrainingRecord,
    Vetting,
)
from engage.alumni.names import key_tokens, search_key
from tests.factories import ensure_country

# --- Query counting ----------------------------------------------------------------------

_SQL = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")


class _Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.queries: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = str(record.args[0] if record.args else record.msg).lstrip()
        if text.upper().startswith(_SQL):
            self.queries.append(text)


@contextlib.contextmanager
def count_queries() -> Iterator[list[str]]:
    """Every SQL statement Tortoise sends inside the block."""
    logger = logging.getLogger("tortoise.db_client")
    counter = _Counter()
    level = logger.level
    logger.addHandler(counter)
    logger.setLevel(logging.DEBUG)
    try:
        yield counter.queries
    finally:
        logger.removeHandler(counter)
        logger.setLevel(level)


# --- Generated alumni --------------------------------------------------------------------

GIVEN = ["Amani", "José", "Thành", "Олександр", "Grace", "Kwame", "María", "Иван", "Wei"]
FAMILY = ["Wanjiru", "García", "Nguyễn", "Коваленко", "Otieno", "Mensah", "López", "Петренко"]
COUNTRIES = ["KE", "UG", "VN", "CO", "UA"]


async def _courses() -> list[Course]:
    found = []
    for title, category, tags in (
        ("Command and Staff", CourseCategory.PME, ["C-130"]),
        ("Air Defence", CourseCategory.TECHNICAL, ["Patriot"]),
        ("English", CourseCategory.ENGLISH, []),
    ):
        course, _created = await Course.get_or_create(
            title=title, school="Generated School", defaults={"category": category, "tags": tags}
        )
        found.append(course)
    return found


async def generate_alumni(count: int, *, first_id: int, seed: int = 6) -> None:
    """``count`` confirmed alumni with training and search tokens, in bulk."""
    rng = random.Random(seed + first_id)
    for code in COUNTRIES:
        await ensure_country(code)
    courses = await _courses()
    batch = 5_000
    for start in range(0, count, batch):
        people, training, tokens = [], [], []
        for pk in range(first_id + start, first_id + min(count, start + batch)):
            given, family = rng.choice(GIVEN), rng.choice(FAMILY)
            level = rng.choice([None, *range(5, 18)])
            key = search_key(given, family)
            people.append(
                Alumnus(
                    id=pk,
                    given_name=given,
                    family_name=family,
                    search_key=key,
                    country_id=rng.choice(COUNTRIES),
                    service=rng.choice(list(Service)),
                    grade_level=level,
                    status=AlumnusStatus.SERVING,
                    vetting=Vetting.CONFIRMED,
                    language=rng.choice(["en", "fr", "pt-BR"]),
                )
            )
            for year in rng.sample(range(2000, 2025), rng.randint(1, 2)):
                training.append(
                    TrainingRecord(alumnus_id=pk, course=rng.choice(courses), class_year=year)
                )
            tokens.extend(SearchToken(alumnus_id=pk, token=t) for t in key_tokens(key))
        await Alumnus.bulk_create(people, batch_size=1_000)
        await TrainingRecord.bulk_create(training, batch_size=1_000)
        await SearchToken.bulk_create(tokens, batch_size=2_000)
    conn = Alumnus._meta.db
    if conn.capabilities.dialect == "postgres":
        # What autovacuum does within a minute of a bulk load: without statistics the
        # planner takes a 100-fold table for a handful of rows and loops over it.
        await conn.execute_script(
            "ANALYZE alumni_alumnus, alumni_training, alumni_search_token, alumni_course"
        )
