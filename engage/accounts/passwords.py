"""Passwords: argon2id hashes computed in threads (capped), and the strength rule.

ASVS 5.0 (V6): at least 8 characters, 64 and more allowed, no composition rules,
rejected when common or guessable (zxcvbn, offline).
"""

from __future__ import annotations

import asyncio
import functools

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

from engage.i18n import _
from engage.settings import SecuritySettings

MIN_LENGTH = 8
MAX_LENGTH = 128
#: zxcvbn's scale: 0-1 are guessed in under ~10^6 tries (common, keyboard walks).
MIN_SCORE = 2

_semaphores: dict[int, asyncio.Semaphore] = {}


@functools.lru_cache(maxsize=8)
def _hasher(time_cost: int, memory_kib: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(
        time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
    )


def hasher(settings: SecuritySettings) -> PasswordHasher:
    return _hasher(
        settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism
    )


def _cap(settings: SecuritySettings) -> asyncio.Semaphore:
    # One semaphore per event loop and size: hashing is memory-hungry.
    key = id(asyncio.get_running_loop()) ^ settings.hash_concurrency
    if key not in _semaphores:
        _semaphores[key] = asyncio.Semaphore(settings.hash_concurrency)
    return _semaphores[key]


async def hash_password(password: str, settings: SecuritySettings) -> str:
    async with _cap(settings):
        return await asyncio.to_thread(hasher(settings).hash, password)


async def verify_password(
    stored: str | None, password: str, settings: SecuritySettings
) -> tuple[bool, bool]:
    """(matches, needs_rehash). A missing hash is checked against a dummy so unknown
    accounts take as long as known ones."""
    ph = hasher(settings)
    target = stored or _dummy_hash(
        settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism
    )

    def _verify() -> bool:
        try:
            return ph.verify(target, password)
        except (VerificationError, InvalidHashError):
            return False

    async with _cap(settings):
        ok = await asyncio.to_thread(_verify)
    if not stored or not ok:
        return False, False
    return True, ph.check_needs_rehash(stored)


@functools.lru_cache(maxsize=8)
def _dummy_hash(time_cost: int, memory_kib: int, parallelism: int) -> str:
    return _hasher(time_cost, memory_kib, parallelism).hash("engage-dummy-password")


def password_problem(password: str, *, user_inputs: list[str] | None = None) -> str | None:
    """Why ``password`` is not acceptable, or None."""
    if len(password) < MIN_LENGTH:
        return _("Use at least %(n)s characters.", n=MIN_LENGTH)
    if len(password) > MAX_LENGTH:
        return _("Use at most %(n)s characters.", n=MAX_LENGTH)
    # zxcvbn is slow on very long inputs; beyond 64 characters length alone is enough.
    result = zxcvbn(password[:64], user_inputs=[u for u in (user_inputs or []) if u])
    if result["score"] < MIN_SCORE:
        hint = result["feedback"].get("warning") or ""
        message = _("This password is too easy to guess.")
        return f"{message} {hint}".strip()
    return None
