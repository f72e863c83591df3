"""The relay's limits, shared by every worker process because they live in the database.

Two limits, both from ``[smtp]`` (0 switches one off):

- **The send rate** (``rate_per_second``, ``rate_per_hour``): one ``RelayBudget`` row
  per relay. Each send takes the next free slot under the row's lock (``SELECT ... FOR
  UPDATE`` in a short transaction of its own: one row, so no deadlock) and waits until
  it; slots are ``1 / rate_per_second`` apart whichever process takes them. The
  hour's count is capped: when the hour is full, or the next slot is further off than
  a worker should hold a row (``MAX_WAIT_SECONDS``), no slot is taken and the row is
  given back, due at that time (``delivery.postpone``), instead of sleeping on it.
- **Connections at once** (``max_connections``): ``RelayConnection`` rows numbered
  0..n-1, each leased by one open connection with an expiry (renewed while it is
  used), so a worker that dies frees its slots when the leases run out. Taking a slot
  is a conditional update (no lock is held while waiting); the transport waits for a
  slot at most its timeout, then the send fails as temporary and the row is retried.

::

    limiter = RateLimiter.from_settings(settings.smtp)      # None when unlimited
    grant = await limiter.take(now=clock())
    if grant.defer_until:   # the hour is full: give the row back until then
        ...
    await asyncio.sleep(grant.wait)                         # then send

    gate = ConnectionSlots.from_settings(settings.smtp, holder=worker.owner)
    transport = SmtpTransport(settings.smtp, gate=gate)     # leases a slot per connection
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from engage.clock import utcnow
from engage.mail.models import RelayBudget, RelayConnection
from engage.settings import SmtpSettings

#: A worker waits at most this long for its slot; a slot further off is not taken
#: and the row is postponed until then.
MAX_WAIT_SECONDS = 10.0
_HOUR = timedelta(hours=1)
#: How long a connection slot stays leased without being renewed (a worker renews
#: it while it sends, and gives it back when the connection closes).
CONNECTION_LEASE_SECONDS = 60.0


def relay_key(smtp: SmtpSettings) -> str:
    """The name the relay's budget and connection slots are kept under."""
    return "embedded" if smtp.is_embedded else f"{smtp.host}:{smtp.port}"[:200]


@dataclass(frozen=True)
class Grant:
    """The outcome of :meth:`RateLimiter.take`: send at ``at`` (after sleeping
    ``wait`` seconds), or do not send before ``defer_until``."""

    at: datetime | None = None
    wait: float = 0.0
    defer_until: datetime | None = None


class RateLimiter:
    """Slots of one relay's send rate, taken one per message by any process."""

    def __init__(
        self,
        relay: str,
        *,
        per_second: float = 0.0,
        per_hour: int = 0,
        max_wait: float = MAX_WAIT_SECONDS,
    ) -> None:
        self.relay = relay
        self.interval = timedelta(seconds=1 / per_second) if per_second > 0 else timedelta(0)
        self.per_hour = per_hour
        self.max_wait = timedelta(seconds=max_wait)

    @classmethod
    def from_settings(cls, smtp: SmtpSettings) -> RateLimiter | None:
        if smtp.rate_per_second <= 0 and smtp.rate_per_hour <= 0:
            return None
        return cls(relay_key(smtp), per_second=smtp.rate_per_second, per_hour=smtp.rate_per_hour)

    async def take(self, *, now: datetime | None = None) -> Grant:
        """Take the next slot for one message (or say until when to put it off)."""
        now = now or utcnow()
        async with in_transaction() as conn:
            budget = await self._locked(conn)
            if budget is None:
                await RelayBudget.bulk_create(
                    [RelayBudget(relay=self.relay, next_slot_at=now, hour_started_at=now)],
                    ignore_conflicts=True,
                    using_db=conn,
                )
                budget = await self._locked(conn)
                assert budget is not None
            hour_started, count = budget.hour_started_at, budget.hour_count
            if now - hour_started >= _HOUR:
                hour_started, count = now, 0
            if self.per_hour and count >= self.per_hour:
                return Grant(defer_until=hour_started + _HOUR)
            slot = max(budget.next_slot_at, now)
            if slot - now > self.max_wait:
                return Grant(defer_until=slot)
            await (
                RelayBudget.filter(relay=self.relay)
                .using_db(conn)
                .update(
                    next_slot_at=slot + self.interval,
                    hour_started_at=hour_started,
                    hour_count=count + 1,
                )
            )
        return Grant(at=slot, wait=max((slot - now).total_seconds(), 0.0))

    async def _locked(self, conn: object) -> RelayBudget | None:
        return (
            await RelayBudget.filter(relay=self.relay)
            .select_for_update()
            .using_db(conn)  # type: ignore[arg-type]
            .first()
        )


class ConnectionSlots:
    """The relay's connection limit across processes: one leased row per open
    connection. The transport's gate (``engage.mail.transport.ConnectionGate``)."""

    def __init__(
        self,
        relay: str,
        *,
        limit: int,
        holder: str,
        lease_seconds: float = CONNECTION_LEASE_SECONDS,
    ) -> None:
        self.relay = relay
        self.limit = limit
        self.holder = holder
        self.lease = timedelta(seconds=lease_seconds)
        self._numbers = itertools.count(1)
        self._ready = False

    @classmethod
    def from_settings(cls, smtp: SmtpSettings, *, holder: str) -> ConnectionSlots | None:
        if smtp.max_connections <= 0:
            return None
        return cls(relay_key(smtp), limit=smtp.max_connections, holder=holder)

    async def _ensure_rows(self) -> None:
        if self._ready:
            return
        await RelayConnection.bulk_create(
            [RelayConnection(relay=self.relay, slot=n) for n in range(self.limit)],
            ignore_conflicts=True,
        )
        self._ready = True

    def _free(self, now: datetime) -> Q:
        return Q(holder__isnull=True) | Q(expires_at__lt=now)

    async def open(self, *, now: datetime | None = None) -> str | None:
        """Lease a free slot for a new connection: its lease name, or None when every
        slot is held (the caller waits and asks again)."""
        await self._ensure_rows()
        now = now or utcnow()
        free = await (
            RelayConnection.filter(self._free(now), relay=self.relay, slot__lt=self.limit)
            .order_by("slot")
            .values_list("id", flat=True)
        )
        lease = f"{self.holder}/{next(self._numbers)}"[:100]
        for pk in free:
            # Conditional: of two processes that saw the same free slot, one gets it.
            taken = await RelayConnection.filter(self._free(now), id=pk).update(
                holder=lease, expires_at=now + self.lease
            )
            if taken:
                return lease
        return None

    async def renew(self, lease: str, *, now: datetime | None = None) -> bool:
        """Extend the lease; False when it was lost (expired and taken by another)."""
        now = now or utcnow()
        return bool(
            await RelayConnection.filter(relay=self.relay, holder=lease).update(
                expires_at=now + self.lease
            )
        )

    async def close(self, lease: str) -> None:
        """Give the slot back (the connection closed)."""
        await RelayConnection.filter(relay=self.relay, holder=lease).update(
            holder=None, expires_at=None
        )

    @property
    def renew_after(self) -> float:
        """Seconds after which a lease in use is renewed (half its length)."""
        return self.lease.total_seconds() / 2
