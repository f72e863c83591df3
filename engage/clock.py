"""Time, always timezone-aware UTC. Services take ``now=`` so tests control the clock."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
