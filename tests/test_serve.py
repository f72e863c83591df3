"""`engage serve` as a real process: one sender per SQLite database."""

from __future__ import annotations

import pytest

from tests.test_demo_pages import run_engage, start_server


@pytest.mark.slow
def test_a_second_serve_on_the_same_sqlite_database_stops_with_one_line(tmp_path):
    server = start_server(tmp_path, f"sqlite://{tmp_path}/var/engage.sqlite3")
    try:
        second = run_engage("serve", "--port", "1", cwd=tmp_path, env=server.env, timeout=60)
        assert second.returncode == 2
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        assert "already serves this SQLite database" in lines[0]
        # SQLite is never served by several processes, with or without a worker.
        no_worker = run_engage("serve", "--no-worker", "--port", "1", cwd=tmp_path, env=server.env)
        assert no_worker.returncode == 2
        assert server.process.poll() is None
    finally:
        server.stop()
