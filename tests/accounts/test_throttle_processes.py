"""Throttling holds across processes: two `engage serve` on one PostgreSQL database
share the counter of attempts for an address."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_SECRET
from tests.test_demo_pages import start_server

pytestmark = pytest.mark.slow
LIMIT = 3
CSRF = "t" * 43


def _client(url: str) -> httpx.Client:
    http = httpx.Client(base_url=url, timeout=10, headers={"X-CSRF-Token": CSRF})
    http.cookies.set("engage_csrf", CSRF)
    return http


def test_two_processes_share_the_throttle(postgres_url: str, tmp_path: Path):
    settings = {
        "ENGAGE_APP__SECRET_KEY": TEST_SECRET,
        "ENGAGE_SECURITY__THROTTLE_PER_ACCOUNT": str(LIMIT),
        "ENGAGE_SECURITY__THROTTLE_WINDOW_SECONDS": "600",
    }
    first = start_server(tmp_path / "one", postgres_url, "--no-worker", **settings)
    try:
        second = start_server(tmp_path / "two", postgres_url, "--no-worker", **settings)
        try:
            with _client(first.url) as one, _client(second.url) as two:
                answers = []
                for attempt in range(LIMIT + 2):
                    http = one if attempt % 2 == 0 else two
                    response = http.post("/password/forgot", data={"email": "shared@example.org"})
                    answers.append(response.status_code)
                    if response.status_code == 429:
                        retry = int(response.headers["retry-after"])
                        assert 0 < retry <= 600
                assert answers == [200] * LIMIT + [429, 429], answers
                # Another address is not affected.
                assert (
                    two.post("/password/forgot", data={"email": "else@example.org"}).status_code
                    == 200
                )
        finally:
            second.stop()
    finally:
        first.stop()
