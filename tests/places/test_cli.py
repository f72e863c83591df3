"""`engage migrate` leaves the country table filled, and a second run adds nothing."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from engage.places.catalogue import catalogue
from tests.conftest import TEST_SECRET


def _migrate(tmp_path: Path, database: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENGAGE_")}
    env.update(
        {
            "ENGAGE_DATABASE__URL": f"sqlite://{database}",
            "ENGAGE_APP__SECRET_KEY": TEST_SECRET,
            "ENGAGE_APP__VAR_DIR": str(tmp_path / "var"),
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "engage", "migrate"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_migrate_seeds_countries_once(tmp_path):
    database = tmp_path / "engage.sqlite3"
    first = _migrate(tmp_path, database)
    assert first.returncode == 0, first.stderr
    assert f"{len(catalogue())} countries added" in first.stdout
    again = _migrate(tmp_path, database)
    assert again.returncode == 0, again.stderr
    assert "countries added" not in again.stdout
    with sqlite3.connect(database) as conn:
        (count,) = conn.execute("SELECT COUNT(*) FROM places_country").fetchone()
        (region,) = conn.execute("SELECT region FROM places_country WHERE code = 'KE'").fetchone()
    assert count == len(catalogue())
    assert region == "Eastern Africa"
