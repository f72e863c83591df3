"""Link tokens (RSVP, verification, reset, unsubscribe), derived, never stored.

``token = <id>.<version>.<HMAC(secret, purpose, id, version)>``. The database keeps
only the row's version for that purpose (and an expiry where it makes sense);
bumping the version revokes every link of that purpose for that row. The purpose is
part of the MAC, so an RSVP token never works as a reset token. Comparison is
constant-time.

Usage::

    token = make_token(secret, "reset", user.id, user.reset_version)
    parsed = read_token(secret, "reset", token)      # None when forged or malformed
    if parsed and parsed.version == user.reset_version: ...
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

_SHAPE = re.compile(r"^(\d{1,18})\.(\d{1,9})\.([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class TokenClaim:
    id: int
    version: int


def _mac(secret: str, purpose: str, row_id: int, version: int) -> str:
    message = f"engage-token\x00{purpose}\x00{row_id}\x00{version}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def make_token(secret: str, purpose: str, row_id: int, version: int) -> str:
    return f"{row_id}.{version}.{_mac(secret, purpose, row_id, version)}"


def read_token(secret: str, purpose: str, token: str) -> TokenClaim | None:
    """The (id, version) a well-formed, authentic token names; None otherwise.

    The caller still checks the version against the row (revocation) and any expiry.
    """
    match = _SHAPE.match(token or "")
    if not match:
        return None
    row_id, version = int(match.group(1)), int(match.group(2))
    expected = _mac(secret, purpose, row_id, version)
    if not hmac.compare_digest(expected, match.group(3)):
        return None
    return TokenClaim(id=row_id, version=version)


def hash_secret(value: str) -> str:
    """SHA-256 of a high-entropy random value (session ids, API tokens) for storage."""
    return hashlib.sha256(value.encode()).hexdigest()
