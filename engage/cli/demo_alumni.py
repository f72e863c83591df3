"""The demo's alumni: a few hundred graduates across the demo countries, with training
and careers, generated from a fixed seed (every run would make the same people).

::

    created = await load_demo_alumni(settings, claimed=[...], admin=admin_user)

What they are drawn from is data, in ``demo_alumni.toml`` next to this module:

- names in each country's script with the Latin (passport) spelling; email, phone,
  language and time zone of their country; a programme ID ``<CC>-<year>-<nnnn>``;
- training from a small catalogue of courses (schools, categories, equipment tags),
  class years over twenty years, funding types from ``programme.funding_types``;
- careers of two to four entries with ranks from the rank tables, so grades map; a
  few ranks no table knows wait in the staff mapping queue;
- a few retired, left service and deceased people, a few flagged "do not engage";
  the demo's alumni accounts claim profiles, some of them pending self-registrations.

Idempotent: the first run leaves a ``demo.alumni`` audit event, and a run that finds
it adds nothing. Fast: rows go in with ``bulk_create``. An address whose owner's data
was erased is never recreated.
"""

from __future__ import annotations

import functools
import random
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from anyascii import anyascii
from tortoise.transactions import in_transaction

from engage.accounts.audit import record
from engage.accounts.models import AuditEvent, User
from engage.accounts.users import email_key
from engage.alumni.grades import grade_level, rank_key, table_grade
from engage.alumni.models import (
    Alumnus,
    AlumnusStatus,
    CareerEntry,
    CareerSource,
    Course,
    CourseCategory,
    RankMapping,
    Service,
    TrainingRecord,
    Vetting,
)
from engage.alumni.names import refresh_search_tokens, search_key
from engage.alumni.profiles import SOURCE_CREATED_BY_STAFF, SOURCE_PROFILE_PAGE
from engage.alumni.rights import is_erased
from engage.clock import utcnow
from engage.settings import Settings

DATA_FILE = Path(__file__).with_name("demo_alumni.toml")
SEED = 20_240_501
#: How many profiles the demo holds in all (generated ones plus the claimed ones).
TOTAL = 300
MARKER = "demo.alumni"
#: Class years run over twenty years up to this one (fixed: the same people every run).
LAST_CLASS_YEAR = 2024
FIRST_CLASS_YEAR = LAST_CLASS_YEAR - 19
#: No career entry is dated later.
CAREER_END = date(2025, 6, 1)
#: The grade of (country, service, rank); "" sends the rank to the staff queue.
GradeOf = Callable[[str, Service, str], str]


@dataclass(frozen=True)
class ClaimedProfile:
    """A demo account's profile (a graduate who registered on the site)."""

    email: str
    country: str
    #: (as written, Latin spelling or "").
    given: tuple[str, str]
    family: tuple[str, str]
    #: A self-registration programme staff have not confirmed yet.
    pending: bool = False


@dataclass
class _Person:
    alumnus: Alumnus
    training: list[TrainingRecord] = field(default_factory=list)
    career: list[CareerEntry] = field(default_factory=list)


@functools.lru_cache(maxsize=1)
def demo_data() -> dict[str, Any]:
    with DATA_FILE.open("rb") as handle:
        return tomllib.load(handle)


async def load_demo_alumni(
    settings: Settings, *, claimed: Sequence[ClaimedProfile], admin: User
) -> int:
    """Add the demo alumni once; how many profiles this run created."""
    if await AuditEvent.exists(action=MARKER):
        return 0
    data = demo_data()
    rng = random.Random(SEED)
    now = utcnow()
    courses = await _courses(data)
    decided = {
        (m.country_id, str(m.service), m.rank_key): m.grade  # type: ignore[attr-defined]
        for m in await RankMapping.exclude(grade="")
    }
    queued: set[tuple[str, str, str]] = set()

    def grade(country: str, service: Service, rank: str) -> str:
        key = (country, str(service), rank_key(rank))
        found = decided.get(key) or table_grade(country, service, rank)
        if not found:
            queued.add(key)
        return found

    maker = _Maker(rng, data, courses, grade, settings.programme.funding_types, now, admin)
    taken = set(await Alumnus.exclude(email_key=None).values_list("email_key", flat=True))
    people: list[_Person] = []
    serial = 0
    for code, share in _shares(data, TOTAL - len(claimed)).items():
        for _n in range(share):
            serial += 1
            person = maker.person(code, serial)
            address = person.alumnus.email_key
            if address and (address in taken or await is_erased(address, settings)):
                continue
            taken.update([address] if address else [])
            people.append(person)
    for index, claim in enumerate(claimed):
        user = await User.get_or_none(email_key=email_key(claim.email))
        if user is None or email_key(claim.email) in taken:
            continue
        if await Alumnus.exists(user_id=user.id):
            continue
        person = maker.person(claim.country, 9001 + index, claim=claim)
        person.alumnus.user_id = user.id  # type: ignore[attr-defined]
        taken.add(email_key(claim.email))
        people.append(person)
    async with in_transaction():  # all or nothing: the marker comes with the rows
        await _save(people)
        if queued:
            await RankMapping.bulk_create(
                [RankMapping(country_id=c, service=s, rank_key=k, grade="") for c, s, k in queued],
                ignore_conflicts=True,
            )
        await record(MARKER, actor=None, details={"alumni": len(people), "seed": SEED})
    return len(people)


def _shares(data: dict[str, Any], total: int) -> dict[str, int]:
    """Each country's share of ``total`` (the listed counts, scaled)."""
    counts = {code: int(c["count"]) for code, c in data["country"].items()}
    listed = sum(counts.values())
    shares = {code: n * total // listed for code, n in counts.items()}
    first = next(iter(shares))
    shares[first] += total - sum(shares.values())
    return shares


async def _courses(data: dict[str, Any]) -> dict[str, Course]:
    titles = [c["title"] for c in data["course"]]
    existing = {c.title: c for c in await Course.filter(title__in=titles)}
    missing = [
        Course(
            title=c["title"],
            school=c["school"],
            category=CourseCategory(c["category"]),
            tags=list(c["tags"]),
        )
        for c in data["course"]
        if c["title"] not in existing
    ]
    if missing:
        await Course.bulk_create(missing, ignore_conflicts=True)
        existing = {c.title: c for c in await Course.filter(title__in=titles)}
    return existing


class _Maker:
    """Draws people, their training and careers from the data, with one random stream."""

    def __init__(
        self,
        rng: random.Random,
        data: dict[str, Any],
        courses: dict[str, Course],
        grade: GradeOf,
        funding_types: Sequence[str],
        now: datetime,
        admin: User,
    ) -> None:
        self.rng = rng
        self.data = data
        self.courses = courses
        self.grade = grade
        # The first funding type (IMET by default) is the usual one.
        self.funding = [funding_types[0]] * 5 + list(funding_types)
        self.now = now
        self.admin = admin
        self.text = data["text"]

    def person(self, code: str, serial: int, *, claim: ClaimedProfile | None = None) -> _Person:
        rng, country = self.rng, self.data["country"][code]
        given, given_latin = claim.given if claim else rng.choice(country["given"])
        family, family_latin = claim.family if claim else rng.choice(country["family"])
        service = Service(rng.choice(country["services"]))
        class_year = rng.randint(FIRST_CLASS_YEAR, LAST_CLASS_YEAR)
        pending = claim is not None and claim.pending
        email = (
            claim.email
            if claim
            else self._email(country, given_latin or given, family_latin or family, serial)
        )
        alumnus = Alumnus(
            given_name=given,
            family_name=family,
            given_name_latin=given_latin,
            family_name_latin=family_latin,
            search_key=search_key(given, family, given_latin, family_latin),
            email=email,
            email_key=email_key(email) if email else None,
            phone=self._phone(country),
            country_id=code,
            service=service,
            language=country["language"],
            timezone=country["timezone"],
            status=self._status(serial, class_year) if claim is None else AlumnusStatus.SERVING,
            vetting=Vetting.PENDING if pending else Vetting.CONFIRMED,
            confirmed_by_id=None if pending else self.admin.id,
            confirmed_at=None if pending else self.now,
            programme_id=None if pending else f"{code}-{class_year}-{serial:04d}",
            unit=rng.choice(self.text["units"]) if rng.random() < 0.6 else "",
            invitations_consent_at=self.now,
            invitations_consent_source=SOURCE_PROFILE_PAGE if pending else SOURCE_CREATED_BY_STAFF,
            newsletter_consent_at=self.now,
            newsletter_consent_source=SOURCE_PROFILE_PAGE if pending else SOURCE_CREATED_BY_STAFF,
        )
        if pending:
            # What a registration keeps of the person's own word (engage.alumni.identity).
            alumnus.declared_class_year = class_year
        elif claim is None:
            self._staff_touches(alumnus, serial)
        person = _Person(alumnus=alumnus)
        if not pending:
            person.training = self._training(service, class_year)
        person.career = self._career(code, service, class_year, pending=pending)
        latest = person.career[-1]
        alumnus.rank, alumnus.grade, alumnus.position = latest.rank, latest.grade, latest.position
        alumnus.grade_level = grade_level(latest.grade)
        return person

    def _email(self, country: dict[str, Any], given: str, family: str, serial: int) -> str | None:
        if self.rng.random() < 0.1:
            return None  # staff have no address for some graduates
        return f"{_slug(given)}.{_slug(family)}.{serial}@example.{country['tld']}"

    def _phone(self, country: dict[str, Any]) -> str:
        if self.rng.random() < 0.3:
            return ""
        digits = f"{self.rng.randint(10, 99)} {self.rng.randint(100, 999)}"
        return f"{country['phone']}{digits} {self.rng.randint(100, 999)}"

    def _status(self, serial: int, class_year: int) -> AlumnusStatus:
        roll = self.rng.random()
        if serial % 97 == 0:
            return AlumnusStatus.DECEASED
        if class_year < 2014 and roll < 0.3:
            return AlumnusStatus.RETIRED
        if roll > 0.97:
            return AlumnusStatus.LEFT_SERVICE
        return AlumnusStatus.SERVING

    def _staff_touches(self, alumnus: Alumnus, serial: int) -> None:
        """Now and then: a note, a withdrawn newsletter consent, a do-not-engage flag."""
        if serial % 41 == 0:
            alumnus.staff_notes = self.text["notes"][serial % len(self.text["notes"])]
        if self.rng.random() < 0.06:
            alumnus.accepts_newsletter = False
            alumnus.newsletter_consent_source = SOURCE_PROFILE_PAGE
        if serial % 89 == 0:
            reasons = self.text["do_not_engage"]
            alumnus.do_not_engage = True
            alumnus.do_not_engage_reason = reasons[(serial // 89) % len(reasons)]
            alumnus.do_not_engage_at = self.now

    def _training(self, service: Service, class_year: int) -> list[TrainingRecord]:
        rng = self.rng
        catalogue = self.data["course"]
        fitting = [c for c in catalogue if str(service) in c.get("services", [str(service)])]
        main = rng.choice([c for c in fitting if not c.get("before")])
        chosen = [main]
        if rng.random() < 0.35:
            chosen.insert(0, next(c for c in catalogue if c.get("before")))
        records = []
        for course in chosen:
            start = date(class_year, course["month"], 1) + timedelta(days=rng.randint(0, 20))
            end = start + timedelta(weeks=course["weeks"])
            records.append(
                TrainingRecord(
                    course_id=self.courses[course["title"]].id,
                    start_date=start,
                    end_date=end,
                    class_year=class_year,
                    funding_type=rng.choice(self.funding),
                    graduated=rng.random() > 0.03,
                )
            )
        return records

    def _career(
        self, code: str, service: Service, class_year: int, *, pending: bool
    ) -> list[CareerEntry]:
        rng = self.rng
        ladders = self.data["ladder"]
        ladder = ladders.get(code, {}).get(str(service)) or ladders["_common"][str(service)]
        steps = rng.randint(2, 4)
        first = rng.randint(0, max(0, len(ladder) - steps - 1))
        ranks = list(ladder[first : first + steps])
        unmapped = self.data["unmapped"].get(code)
        if unmapped and rng.random() < 0.25:
            ranks[-1] = rng.choice(unmapped)  # as the person's own records write it
        # Promotions a few years apart, the course somewhere in the middle, the last
        # one no later than CAREER_END: distinct months, so "latest" is never a tie.
        start = date(class_year - rng.randint(3, 8), rng.randint(1, 12), 1)
        end = min(date(class_year + 10, 1, 1), CAREER_END)
        months = (end.year - start.year) * 12 + end.month - start.month
        offsets = [0, *sorted(rng.sample(range(12, months), len(ranks) - 1))]
        entries = []
        for rank, offset in zip(ranks, offsets, strict=True):
            year, month = divmod(start.month - 1 + offset, 12)
            entries.append(
                CareerEntry(
                    rank=rank,
                    grade=self.grade(code, service, rank),
                    position=rng.choice(self.text["positions"]),
                    effective_date=date(start.year + year, month + 1, 1),
                    source=CareerSource.SELF_REPORTED if pending else CareerSource.STAFF_VERIFIED,
                )
            )
        return entries


async def _save(people: list[_Person]) -> None:
    """Profiles first (ids read back by programme ID), then their training and careers."""
    listed = [p for p in people if p.alumnus.programme_id]
    await Alumnus.bulk_create([p.alumnus for p in listed], batch_size=200)
    ids = dict(
        await Alumnus.filter(programme_id__in=[p.alumnus.programme_id for p in listed]).values_list(
            "programme_id", "id"
        )
    )
    for person in listed:
        person.alumnus.id = ids[person.alumnus.programme_id]
    for person in people:
        if not person.alumnus.programme_id:
            await person.alumnus.save()  # the few pending registrations
    training: list[TrainingRecord] = []
    career: list[CareerEntry] = []
    for person in people:
        for row in person.training:
            row.alumnus_id = person.alumnus.id  # type: ignore[attr-defined]
            training.append(row)
        for entry in person.career:
            entry.alumnus_id = person.alumnus.id  # type: ignore[attr-defined]
            career.append(entry)
    await TrainingRecord.bulk_create(training, batch_size=500)
    await CareerEntry.bulk_create(career, batch_size=500)
    await refresh_search_tokens([person.alumnus.id for person in people])


def _slug(name: str) -> str:
    return "".join(c for c in anyascii(name).lower() if c.isalnum())
