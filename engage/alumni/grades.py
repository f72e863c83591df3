"""Ranks to comparable NATO grades (STANAG 2116), from data files and staff decisions.

::

    grade = await grade_for("VN", Service.ARMY, "Đại tá")      # "OF-5"
    grade = await grade_for("KE", Service.ARMY, "Field Bishop")  # "" and queued for staff

A rank found in no table is never guessed: it waits in the mapping queue
(``RankMapping`` with an empty grade) until staff map it.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from anyascii import anyascii
from tortoise.transactions import in_transaction

from engage.accounts.actor import Actor, require_role
from engage.accounts.audit import record
from engage.accounts.models import Role
from engage.alumni.models import Alumnus, CareerEntry, RankMapping, Service
from engage.clock import utcnow
from engage.errors import InvalidInput, NotFound
from engage.i18n import _

RANKS_DIR = Path(__file__).resolve().parent / "ranks"
GRADES = [f"OR-{n}" for n in range(1, 10)] + ["WO"] + [f"OF-{n}" for n in range(1, 11)]
#: Grades as numbers for ranges and comparisons: OR-1..OR-9 = 1..9, WO = 10, OF-n = 10 + n.
GRADE_LEVEL = {grade: level for level, grade in enumerate(GRADES, start=1)}
_SPACES = re.compile(r"[\s\-_/.,]+")


class RankTableError(Exception):
    """A shipped rank table is malformed (raised at start-up, naming file and key)."""


def rank_key(rank: str) -> str:
    """Case, accents, scripts and punctuation folded: "Đại tá" -> "dai ta"."""
    return _SPACES.sub(" ", anyascii(rank).lower()).strip()


def grade_level(grade: str) -> int | None:
    return GRADE_LEVEL.get(grade)


@functools.lru_cache(maxsize=1)
def rank_tables() -> dict[tuple[str, str], dict[str, str]]:
    """{(country or "_common", service or "all"): {rank_key: grade}} from ``ranks/``."""
    tables: dict[tuple[str, str], dict[str, str]] = {}
    services = {s.value for s in Service} | {"all"}
    for path in sorted(RANKS_DIR.glob("*.toml")):
        owner = path.stem
        if owner != "_common" and not re.fullmatch(r"[A-Z]{2}", owner):
            raise RankTableError(f"{path.name}: name must be a country code (e.g. KE.toml)")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise RankTableError(f"{path.name}: {exc}") from None
        for service, ranks in data.items():
            if service not in services or not isinstance(ranks, dict):
                raise RankTableError(f"{path.name}: unknown service table [{service}]")
            table = tables.setdefault((owner, service), {})
            for rank, grade in ranks.items():
                if grade not in GRADE_LEVEL:
                    raise RankTableError(f"{path.name}: [{service}] {rank!r} = {grade!r}")
                table[rank_key(rank)] = grade
    return tables


def table_grade(country: str, service: Service | str, rank: str) -> str:
    """The grade the shipped tables give, or ""."""
    key = rank_key(rank)
    tables = rank_tables()
    for owner, table in ((country, str(service)), (country, "all"), ("_common", str(service))):
        grade = tables.get((owner, table), {}).get(key)
        if grade:
            return grade
    return ""


async def grade_for(country: str, service: Service | str, rank: str) -> str:
    """The grade of ``rank``; "" (and a place in the mapping queue) when unknown."""
    key = rank_key(rank)
    if not key:
        return ""
    decided = await RankMapping.get_or_none(country_id=country, service=service, rank_key=key)
    if decided is not None and decided.grade:
        return decided.grade
    grade = table_grade(country, service, rank)
    if grade:
        return grade
    if decided is None:
        await RankMapping.bulk_create(
            [RankMapping(country_id=country, service=service, rank_key=key, grade="")],
            ignore_conflicts=True,
        )
    return ""


async def mapping_queue() -> list[RankMapping]:
    """Ranks waiting for a staff decision, oldest first."""
    return await RankMapping.filter(grade="").order_by("first_seen_at", "id")


@dataclass(frozen=True)
class QueuedRank:
    mapping: RankMapping
    country_name: str
    #: How the rank is written in the career entries that wait for it.
    spellings: list[str]
    #: Career entries (and so people) that get a grade once it is mapped.
    entries: int


async def queued_ranks(*, actor: Actor) -> list[QueuedRank]:
    """The mapping queue as staff review it: each rank with the entries waiting."""
    require_role(actor, Role.STAFF)
    queue = (
        await RankMapping.filter(grade="").select_related("country").order_by("first_seen_at", "id")
    )
    waiting = await CareerEntry.filter(grade="").values(
        "rank", "alumnus__country_id", "alumnus__service"
    )
    found = []
    for mapping in queue:
        spellings: dict[str, int] = {}
        for row in waiting:
            if (
                row["alumnus__country_id"] == mapping.country_id  # type: ignore[attr-defined]
                and row["alumnus__service"] == mapping.service
                and rank_key(row["rank"]) == mapping.rank_key
            ):
                spellings[row["rank"]] = spellings.get(row["rank"], 0) + 1
        found.append(
            QueuedRank(
                mapping=mapping,
                country_name=mapping.country.name,
                spellings=sorted(spellings) or [mapping.rank_key],
                entries=sum(spellings.values()),
            )
        )
    return found


async def map_rank(
    mapping_id: int, grade: str, *, actor: Actor, now: datetime | None = None
) -> RankMapping:
    """Staff decide the grade of a queued rank; every entry with that rank gets it."""
    require_role(actor, Role.STAFF)
    if grade not in GRADE_LEVEL:
        raise InvalidInput(_("Choose a NATO grade."), fields={"grade": _("Not a grade.")})
    mapping = await RankMapping.get_or_none(id=mapping_id)
    if mapping is None:
        raise NotFound(_("Not found."))
    now = now or utcnow()
    async with in_transaction() as conn:
        mapping.grade = grade
        mapping.mapped_by = actor.user  # type: ignore[assignment]
        mapping.mapped_at = now
        await mapping.save(using_db=conn)
        entries = await CareerEntry.filter(
            alumnus__country_id=mapping.country_id, alumnus__service=mapping.service, grade=""
        ).using_db(conn)
        touched = set()
        for entry in entries:
            if rank_key(entry.rank) == mapping.rank_key:
                entry.grade = grade
                await entry.save(update_fields=["grade"], using_db=conn)
                touched.add(entry.alumnus_id)  # type: ignore[attr-defined]
        for alumnus_id in touched:
            await refresh_current_grade(alumnus_id, using_db=conn)
        await record(
            "rank.map",
            actor=actor.user,
            target=("rank_mapping", mapping.id),
            details={"rank": mapping.rank_key, "grade": grade, "entries": len(touched)},
            using_db=conn,
        )
    return mapping


async def refresh_current_grade(alumnus_id: int, *, using_db: object | None = None) -> None:
    """The profile's rank and grade come from its latest career entry."""
    latest = (
        await CareerEntry.filter(alumnus_id=alumnus_id)
        .using_db(using_db)  # type: ignore[arg-type]
        .order_by("-effective_date", "-id")
        .first()
    )
    if latest is None:
        return
    await (
        Alumnus.filter(id=alumnus_id)
        .using_db(using_db)  # type: ignore[arg-type]
        .update(rank=latest.rank, grade=latest.grade, grade_level=grade_level(latest.grade))
    )
