from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engage.mail.transport import SmtpTransport
from engage.settings import Settings
from engage.worker.runner import Worker
from tests.conftest import make_settings


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        # Real time by default: rows enqueued without a clock are due at once.
        self.now = start or datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def relay_settings(db_url, tmp_path, smtp_server) -> Settings:
    """Settings that send to the scripted test SMTP server."""
    return make_settings(
        db_url,
        tmp_path / "var",
        smtp={"host": "127.0.0.1", "port": smtp_server.port, "timeout_seconds": 2.0},
        mail={"retry_base_seconds": 60.0, "retry_max_seconds": 3600.0, "max_age_hours": 48.0},
    )


@pytest.fixture
async def worker(relay_settings, db, clock):
    import random

    transport = SmtpTransport(relay_settings.smtp)
    # One lane: messages arrive in the order they were queued (tests read "the last").
    w = Worker(
        relay_settings,
        transport,
        owner="test-worker",
        clock=clock,
        rng=random.Random(7),
        concurrency=1,
    )
    yield w
    await transport.close()
