"""A transaction written once as a *flow* of SQL statements, run the fastest way each
database allows.

A flow is a generator: it yields a batch of statements (``?`` marks), receives their
rows, decides, yields the next batch, and returns its result. It does no I/O itself,
so the same rules run several ways::

    def flow(dialect: str) -> Flow[int]:
        (rows,) = yield [Sql("SELECT seats_taken FROM events_event WHERE id = ?", (7,))]
        ...
        return rows[0]["seats_taken"]

    conn = Event._choose_db(True)
    result = await run_flow(flow, conn)                         # a transaction of its own
    result = await run_flow(flow, conn, together=event_id)      # sharing one (below)
    result = await run_flow(flow, tx, own_transaction=False)    # inside the caller's

- On SQLite, flows run whole in the connection's thread: ``BEGIN IMMEDIATE``, every
  statement, ``COMMIT``, in one trip. The database's one write lock is taken first, so
  the flows' reads are current and no other writer in any process gets in; and it is
  held for the statements alone, not for a round trip through the event loop per
  statement (which, under load, is what the lock would mostly wait on). Flows that
  queue meanwhile go to the thread together, in one transaction.
- On PostgreSQL, statement by statement on the Tortoise connection. A batch of several
  statements goes as *one* statement (all but the last as ``WITH wN AS (...)`` parts;
  their effects are not visible to each other, so a batch holds independent writes and
  a last statement whose rows the flow reads): a row lock taken earlier in the flow is
  held for fewer round trips. Flows given the same ``together`` key while one of them
  runs share the next transaction, one after the other: one commit (one flush of the
  log) for all, where each would otherwise wait for the last one's flush while holding
  the row lock they all need.

Sharing a transaction changes nothing for a flow: each sees the ones before it, and a
flow that fails before writing fails alone. A flow that fails after writing (a
database error) rolls the shared transaction back, and each flow of it runs again in
a transaction of its own. A flow that finds it read something another transaction
changed since raises :class:`Stale`; its transaction is rolled back and it runs again.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import sqlite3
import weakref
from collections.abc import Callable, Generator, Hashable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeVar

from tortoise.backends.base.client import BaseDBAsyncClient, TransactionalDBClient
from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.transactions import in_transaction

T = TypeVar("T")
Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class Sql:
    #: With ``?`` for each value (turned into ``$n`` on PostgreSQL).
    text: str
    values: Sequence[Any] = ()

    @property
    def writes(self) -> bool:
        return not self.text.lstrip()[:6].upper().startswith("SELECT")


#: Yields batches, receives each batch's rows (one list per statement), returns T.
Flow = Generator[list[Sql], list[Rows], T]
Make = Callable[[str], Flow[T]]


class Stale(Exception):
    """A row the flow read was changed by another transaction before the flow wrote:
    roll back and run it again."""


#: Runs of a flow that keeps meeting :class:`Stale` (another answer to the same row
#: each time) before giving up.
ATTEMPTS = 5


async def run_flow(
    make: Make[T],
    conn: BaseDBAsyncClient,
    *,
    own_transaction: bool = True,
    together: Hashable | None = None,
) -> T:
    """Run the flow ``make(dialect)`` on ``conn`` (a model's ``_choose_db(True)``).

    ``own_transaction``: ``conn`` is not in a transaction and the flow gets one of its
    own; otherwise it runs inside the caller's. ``together``: flows of the same key may
    share one transaction (on SQLite every flow may).
    """
    dialect = conn.capabilities.dialect
    if not own_transaction or isinstance(conn, TransactionalDBClient):
        return await _run_async(make(dialect), conn, dialect)
    if dialect == "sqlite":
        return await _queued(make, conn, None)
    if together is not None:
        return await _queued(make, conn, together)
    return await _alone(make, conn)


async def _alone(make: Make[T], conn: BaseDBAsyncClient) -> T:
    """The flow in a transaction of its own, run again while it meets Stale."""
    dialect = conn.capabilities.dialect
    for attempt in range(1, ATTEMPTS + 1):
        try:
            if dialect == "sqlite":
                outcome = await _in_sqlite_thread(conn, _run_sync, make, dialect)
                return outcome  # type: ignore[no-any-return]
            async with in_transaction(conn.connection_name) as tx:
                return await _run_async(make(dialect), tx, dialect)
        except Stale:
            if attempt == ATTEMPTS:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


# --- Statement by statement (PostgreSQL, or inside the caller's transaction) ----------------


async def _run_async(
    flow: Flow[T],
    conn: BaseDBAsyncClient,
    dialect: str,
    *,
    context: contextvars.Context | None = None,
    wrote: list[bool] | None = None,
) -> T:
    """Drive ``flow`` on ``conn``; ``context``: the one its steps run in (its request's
    language); ``wrote`` is set once a statement that writes has run."""
    step = flow.send if context is None else (lambda rows: context.run(flow.send, rows))
    try:
        batch = step(None)  # type: ignore[arg-type]
        while True:
            if wrote is not None and any(sql.writes for sql in batch):
                wrote[0] = True
            if dialect == "postgres" and len(batch) > 1:
                rows = await conn.execute_query_dict(*_postgres(_merge(batch)))
                results: list[Rows] = [[] for _ in batch[:-1]] + [rows]
            else:
                results = [await conn.execute_query_dict(*_dialect(sql, dialect)) for sql in batch]
            batch = step(results)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


def _merge(batch: list[Sql]) -> Sql:
    """One statement for a batch: the first ones as data-modifying WITH parts."""
    *parts, last = batch
    head = ", ".join(f"w{n} AS ({sql.text})" for n, sql in enumerate(parts))
    values = [value for sql in batch for value in sql.values]
    return Sql(f"WITH {head} {last.text}", values)


def _dialect(sql: Sql, dialect: str) -> tuple[str, list[Any]]:
    return _postgres(sql) if dialect == "postgres" else (sql.text, list(sql.values))


def _postgres(sql: Sql) -> tuple[str, list[Any]]:
    return _numbered(sql.text), list(sql.values)


_MARK = re.compile(r"\?")


@lru_cache(maxsize=512)
def _numbered(text: str) -> str:
    """``?`` marks as ``$1``, ``$2``... (the statements hold no literal ``?``)."""
    counter = iter(range(1, text.count("?") + 1))
    return _MARK.sub(lambda _match: f"${next(counter)}", text)


# --- Flows sharing a transaction --------------------------------------------------------


@dataclass
class _Job:
    make: Make[Any]
    #: The caller's context: the flow's steps run in it (its language, for messages).
    context: contextvars.Context
    future: asyncio.Future[Any]


@dataclass
class _Queue:
    """Jobs waiting for a transaction, and the task running them (if any)."""

    pending: list[_Job] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


_QUEUES: weakref.WeakKeyDictionary[BaseDBAsyncClient, dict[Hashable, _Queue]] = (
    weakref.WeakKeyDictionary()
)


class _Alone:
    """A flow's outcome when it has to run again in a transaction of its own."""


_ALONE = _Alone()
Outcome = tuple[bool, Any] | _Alone


async def _queued(make: Make[T], conn: BaseDBAsyncClient, key: Hashable) -> T:
    queue = _QUEUES.setdefault(conn, {}).setdefault(key, _Queue())
    future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
    queue.pending.append(_Job(make, contextvars.copy_context(), future))
    if queue.task is None:
        queue.task = asyncio.create_task(_run_queue(queue, conn))
    return await future


async def _run_queue(queue: _Queue, conn: BaseDBAsyncClient) -> None:
    """Run whatever is waiting, in one transaction, until nothing is."""
    try:
        while queue.pending:
            jobs, queue.pending = queue.pending, []
            try:
                outcomes = await _together(jobs, conn)
            except Exception as exc:  # the connection itself failed
                outcomes = [(False, exc)] * len(jobs)
            for job, outcome in zip(jobs, outcomes, strict=True):
                if isinstance(outcome, _Alone):
                    outcome = await _settle_alone(job, conn)
                if job.future.done():  # the caller went away: its flow ran all the same
                    continue
                ok, value = outcome
                if ok:
                    job.future.set_result(value)
                else:
                    job.future.set_exception(value)
    finally:
        queue.task = None


async def _settle_alone(job: _Job, conn: BaseDBAsyncClient) -> tuple[bool, Any]:
    try:
        return True, await job.context.run(asyncio.ensure_future, _alone(job.make, conn))
    except Exception as exc:
        return False, exc


async def _together(jobs: list[_Job], conn: BaseDBAsyncClient) -> list[Outcome]:
    dialect = conn.capabilities.dialect
    if dialect == "sqlite":
        batch = [(job.make, job.context) for job in jobs]
        outcomes: list[Outcome] = await _in_sqlite_thread(conn, _run_jobs_sync, batch, dialect)
        return outcomes
    results: list[Outcome] = []
    try:
        async with in_transaction(conn.connection_name) as tx:
            for job in jobs:
                wrote = [False]
                try:
                    flow = job.context.run(job.make, dialect)
                    value = await _run_async(flow, tx, dialect, context=job.context, wrote=wrote)
                except Stale:
                    if wrote[0]:
                        raise _RollBack() from None
                    results.append(_ALONE)
                except Exception as exc:
                    if wrote[0] or _is_database_error(exc):
                        raise _RollBack() from None
                    results.append((False, exc))
                else:
                    results.append((True, value))
    except _RollBack:
        return [_ALONE] * len(jobs)
    return results


class _RollBack(Exception):
    """Leave the shared transaction, rolling it back."""


def _is_database_error(exc: Exception) -> bool:
    return isinstance(exc, (IntegrityError, OperationalError, sqlite3.Error)) or (
        type(exc).__module__.startswith("asyncpg")
    )


# --- SQLite: whole transactions in the connection's thread -------------------------------


async def _in_sqlite_thread(conn: BaseDBAsyncClient, function: Callable[..., T], *args: Any) -> T:
    # Tortoise's lock on its one connection: none of its transactions is open meanwhile.
    async with conn.acquire_connection() as connection:
        # aiosqlite runs each call as a function in its thread: this one is whole
        # transactions. The caller's context goes along (its language, for messages).
        context = contextvars.copy_context()
        return await connection._execute(context.run, function, connection._conn, *args)  # type: ignore[no-any-return]


def _run_sync(db: sqlite3.Connection, make: Make[T], dialect: str) -> T:
    """One flow, one transaction."""
    db.execute("BEGIN IMMEDIATE")
    try:
        result = _feed(make(dialect), db, None)
    except BaseException as exc:
        if db.in_transaction:
            db.execute("ROLLBACK")
        if isinstance(exc, Exception):
            raise _translated(exc) from exc
        raise
    db.execute("COMMIT")
    return result


def _run_jobs_sync(
    db: sqlite3.Connection, jobs: list[tuple[Make[Any], contextvars.Context]], dialect: str
) -> list[Outcome]:
    """Flows one after the other in one transaction (see _together)."""
    outcomes: list[Outcome] = []
    db.execute("BEGIN IMMEDIATE")
    try:
        for make, context in jobs:
            wrote = [False]
            try:
                value = _feed(context.run(make, dialect), db, context, wrote)
            except Stale:
                if wrote[0]:
                    raise _RollBack() from None
                outcomes.append(_ALONE)
            except Exception as exc:
                if wrote[0] or _is_database_error(exc):
                    raise _RollBack() from None
                outcomes.append((False, exc))
            else:
                outcomes.append((True, value))
    except _RollBack:
        db.execute("ROLLBACK")
        return [_ALONE] * len(jobs)
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return outcomes


def _translated(exc: Exception) -> Exception:
    """sqlite3's errors as Tortoise's, as its own statements raise them."""
    if isinstance(exc, sqlite3.IntegrityError):
        return IntegrityError(exc)
    if isinstance(exc, sqlite3.OperationalError):
        return OperationalError(exc)
    return exc


def _feed(
    flow: Flow[T],
    db: sqlite3.Connection,
    context: contextvars.Context | None,
    wrote: list[bool] | None = None,
) -> T:
    step = flow.send if context is None else (lambda rows: context.run(flow.send, rows))
    try:
        batch = step(None)  # type: ignore[arg-type]
        while True:
            if wrote is not None and any(sql.writes for sql in batch):
                wrote[0] = True
            batch = step([_fetch(db, sql) for sql in batch])
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


def _fetch(db: sqlite3.Connection, sql: Sql) -> Rows:
    cursor = db.execute(sql.text, tuple(sql.values))
    if cursor.description is None:
        return []
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
