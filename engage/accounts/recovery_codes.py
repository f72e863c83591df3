"""Recovery codes: ten single-use codes to sign in without the authenticator.

Each has 120 random bits (24 base32 characters, shown in groups of six), so a plain
SHA-256 is an acceptable way to store it (ASVS 5.0 6.5.2: from 112 bits up); the
user's id is hashed in too, so equal digests never link two accounts. They are
shown once and never stored in clear. Hashes, not sealed values: they keep working
even if the app secret changes.

::

    codes = await replace_recovery_codes(user, conn)     # show them, once
    ok = await use_recovery_code(user, normalise("ABCDEF ghijkl ..."), now=now)
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient

from engage.accounts.models import RecoveryCode, User

COUNT = 10
_CHARS = 24
_GROUP = 6
_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
SHAPE = re.compile(rf"^[a-z2-7]{{{_CHARS}}}$")
#: People read codes off paper: digits that look like base32 letters count as them.
_LOOKALIKES = str.maketrans({"0": "o", "1": "l", "8": "b"})


def normalise(typed: str) -> str:
    """A code as typed, without spaces or hyphens, lower-cased, look-alikes mapped."""
    return re.sub(r"[\s-]+", "", typed or "").lower().translate(_LOOKALIKES)


def _digest(user_id: int, code: str) -> str:
    return hashlib.sha256(f"engage-recovery\x00{user_id}\x00{code}".encode()).hexdigest()


def _new_code() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _i in range(_CHARS))
    return "-".join(raw[i : i + _GROUP] for i in range(0, _CHARS, _GROUP))


async def replace_recovery_codes(user: User, conn: BaseDBAsyncClient) -> list[str]:
    """New codes for ``user`` (the old ones stop working); returned once, in clear."""
    codes = [_new_code() for _i in range(COUNT)]
    await RecoveryCode.filter(user_id=user.id).using_db(conn).delete()
    await RecoveryCode.bulk_create(
        [RecoveryCode(user_id=user.id, code_hash=_digest(user.id, normalise(c))) for c in codes],
        using_db=conn,
    )
    return codes


async def use_recovery_code(user: User, code: str, *, now: datetime) -> bool:
    """Spend ``code`` (normalised); False if it is not one of the user's unused codes."""
    if not SHAPE.match(code):
        return False
    row = await RecoveryCode.filter(
        user_id=user.id, code_hash=_digest(user.id, code), used_at__isnull=True
    ).first()
    if row is None:
        return False
    # Conditional: of two simultaneous uses of one code, one wins.
    return await RecoveryCode.filter(id=row.id, used_at__isnull=True).update(used_at=now) == 1


async def unused_count(user: User) -> int:
    return await RecoveryCode.filter(user_id=user.id, used_at__isnull=True).count()


async def delete_recovery_codes(user: User, conn: BaseDBAsyncClient) -> None:
    await RecoveryCode.filter(user_id=user.id).using_db(conn).delete()
