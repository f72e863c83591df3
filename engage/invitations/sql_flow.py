"""A transaction written once as a *flow* of SQL statements, run the fastest way each
database allows.

A flow is a generator: it yields a batch of statements (``?`` marks), receives their
rows, decides, yields the next batch, and returns its result. It does no I/O itself,
so the same rules run two ways::

    def flow(dialect: str) -> Flow[int]:
        (rows,) = yield [Sql("SELECT seats_taken FROM events_event WHERE id = ?", (7,))]
        ...
        return rows[0]["seats_taken"]

    conn = Invitation._choose_db(True)
    result = await run_flow(flow, conn)                          # a transaction of its own
    result = await run_flow(flow, tx, own_transaction=False)     # inside the caller's

- On SQLite, a transaction of its own runs whole in the connection's thread: ``BEGIN
  IMMEDIATE``, every statement, ``COMMIT``, in one trip. The database's one write lock
  is taken first, so the flow's reads are current and no other writer in any process
  gets in; and it is held for the statements alone, not for a round trip through the
  event loop per statement (which, under load, is what the lock would mostly wait on).
  Flows queued meanwhile go to the thread together, each still its own transaction.
- Elsewhere (PostgreSQL, or a transaction the caller holds), statement by statement on
  the Tortoise connection, in a transaction. On PostgreSQL a batch of several
  statements goes as *one* statement (all but the last as ``WITH wN AS (...)`` parts;
  their effects are not visible to each other, so a batch holds independent writes and
  a last statement whose rows the flow reads): a row lock taken earlier in the flow is
  held for fewer round trips.

A flow that finds it read something another transaction changed since raises
:class:`Stale`; a transaction of its own is then rolled back and the flow run again.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import sqlite3
import weakref
from collections.abc import Callable, Generator, Sequence
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


#: Yields batches, receives each batch's rows (one list per statement), returns T.
Flow = Generator[list[Sql], list[Rows], T]


class Stale(Exception):
    """A row the flow read was changed by another transaction before the flow wrote:
    roll back and run it again."""


#: Runs of a flow that keeps meeting :class:`Stale` (another answer to the same row
#: each time) before giving up.
ATTEMPTS = 5


async def run_flow(
    make: Callable[[str], Flow[T]],
    conn: BaseDBAsyncClient,
    *,
    own_transaction: bool = True,
) -> T:
    """Run the flow ``make(dialect)`` on ``conn`` (a model's ``_choose_db(True)``).

    ``own_transaction``: ``conn`` is not in a transaction and the flow gets one of its
    own (retried on :class:`Stale`); otherwise it runs inside the caller's.
    """
    dialect = conn.capabilities.dialect
    if not own_transaction or isinstance(conn, TransactionalDBClient):
        return await _run_async(make(dialect), conn, dialect)
    for attempt in range(1, ATTEMPTS + 1):
        try:
            if dialect == "sqlite":
                return await _run_in_sqlite_thread(make(dialect), conn)
            async with in_transaction(conn.connection_name) as tx:
                return await _run_async(make(dialect), tx, dialect)
        except Stale:
            if attempt == ATTEMPTS:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


# --- PostgreSQL, or inside the caller's transaction ----------------------------------------


async def _run_async(flow: Flow[T], conn: BaseDBAsyncClient, dialect: str) -> T:
    try:
        batch = next(flow)
        while True:
            if dialect == "postgres" and len(batch) > 1:
                rows = await conn.execute_query_dict(*_postgres(_merge(batch)))
                results: list[Rows] = [[] for _ in batch[:-1]] + [rows]
            else:
                results = [await conn.execute_query_dict(*_dialect(sql, dialect)) for sql in batch]
            batch = flow.send(results)
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


# --- SQLite: whole transactions in the connection's thread -------------------------------


@dataclass
class _Queue:
    """Flows waiting for the connection's thread, and whether a task is feeding it."""

    pending: list[tuple[Flow[Any], contextvars.Context, asyncio.Future[Any]]] = field(
        default_factory=list
    )
    feeding: bool = False
    #: The running feeder (a reference keeps the task alive).
    task: asyncio.Task[None] | None = None


_QUEUES: weakref.WeakKeyDictionary[BaseDBAsyncClient, _Queue] = weakref.WeakKeyDictionary()


async def _run_in_sqlite_thread(flow: Flow[T], client: BaseDBAsyncClient) -> T:
    """Queue the flow; one task hands the connection's thread every flow waiting at
    once, each its own transaction, in one trip (between two trips, under load, the
    thread would otherwise sit idle for whole turns of a busy event loop)."""
    queue = _QUEUES.setdefault(client, _Queue())
    done: asyncio.Future[T] = asyncio.get_running_loop().create_future()
    # The flow's messages are translated: it runs in this request's context.
    queue.pending.append((flow, contextvars.copy_context(), done))
    if not queue.feeding:
        queue.feeding = True
        queue.task = asyncio.create_task(_feed_thread(queue, client))
    return await done


async def _feed_thread(queue: _Queue, client: BaseDBAsyncClient) -> None:
    try:
        while queue.pending:
            batch, queue.pending = queue.pending, []
            try:
                # Tortoise's lock on its one connection: none of its transactions is
                # open while these run.
                async with client.acquire_connection() as connection:
                    # aiosqlite runs each call as a function in its thread: this one
                    # runs the whole batch.
                    outcomes = await connection._execute(
                        _run_batch, connection._conn, [(f, c) for f, c, _d in batch]
                    )
            except Exception as exc:  # the connection itself failed
                outcomes = [(False, exc)] * len(batch)
            for (_flow, _context, future), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():  # the request went away: its answer stands
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
    finally:
        queue.feeding = False
        queue.task = None


def _run_batch(
    db: sqlite3.Connection, batch: list[tuple[Flow[Any], contextvars.Context]]
) -> list[tuple[bool, Any]]:
    outcomes: list[tuple[bool, Any]] = []
    for flow, context in batch:
        try:
            outcomes.append((True, context.run(_run_sync, db, flow)))
        except Exception as exc:
            outcomes.append((False, _translated(exc)))
    return outcomes


def _run_sync(db: sqlite3.Connection, flow: Flow[T]) -> T:
    db.execute("BEGIN IMMEDIATE")
    try:
        result = _feed(flow, db)
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return result


def _translated(exc: Exception) -> Exception:
    """sqlite3's errors as Tortoise's, as its own statements raise them."""
    if isinstance(exc, sqlite3.IntegrityError):
        return IntegrityError(exc)
    if isinstance(exc, sqlite3.OperationalError):
        return OperationalError(exc)
    return exc


def _feed(flow: Flow[T], db: sqlite3.Connection) -> T:
    try:
        batch = next(flow)
        while True:
            batch = flow.send([_fetch(db, sql) for sql in batch])
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


def _fetch(db: sqlite3.Connection, sql: Sql) -> Rows:
    cursor = db.execute(sql.text, tuple(sql.values))
    if cursor.description is None:
        return []
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
