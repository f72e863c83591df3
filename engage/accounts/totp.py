"""TOTP (RFC 6238) for one user: the secret sealed in their row, codes checked with a
little clock drift allowed, and each time step accepted at most once.

::

    user.totp_secret = seal_secret(user, pyotp.random_base32(), settings=settings)
    step = matching_step(read_secret(user, settings=settings), "492039", now)
    if step is not None and await claim_step(user, step): ...   # accepted, never again
"""

from __future__ import annotations

import hmac
import logging
import re
from datetime import datetime

import pyotp
from tortoise.expressions import Q

from engage.accounts.models import User
from engage.accounts.secretbox import SealedValueError, seal, unseal
from engage.settings import Settings

log = logging.getLogger("engage.accounts.totp")

#: What authenticator apps expect by default (several ignore anything else).
DIGITS = 6
PERIOD_SECONDS = 30
#: Steps accepted either side of now, for clocks that drift (RFC 6238 section 5.2).
DRIFT_STEPS = 1
CODE_SHAPE = re.compile(rf"^\d{{{DIGITS}}}$")
_PURPOSE = "totp"


def new_secret() -> str:
    """160 random bits in base32 (RFC 4226's recommended length)."""
    return pyotp.random_base32()


def check_secret(secret: str) -> str:
    """``secret`` if it is usable base32 (raises ValueError otherwise)."""
    _totp(secret).now()
    return secret


def seal_secret(user: User, secret: str, *, settings: Settings) -> str:
    """What to store in ``user.totp_secret``: bound to this user's row."""
    return seal(settings.app.secret_key, _PURPOSE, secret, context=f"user:{user.id}")


def read_secret(user: User, *, settings: Settings) -> str | None:
    """The user's secret in clear, or None when there is none or it cannot be opened."""
    if not user.totp_secret:
        return None
    try:
        return unseal(
            settings.app.secret_key, _PURPOSE, user.totp_secret, context=f"user:{user.id}"
        )
    except SealedValueError as exc:
        # The app secret changed (or the row was altered): the person signs in with a
        # recovery code and sets up their authenticator again.
        log.warning("TOTP secret of user %s cannot be read: %s", user.id, exc)
        return None


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """``otpauth://totp/...`` for a QR code."""
    return _totp(secret).provisioning_uri(name=account, issuer_name=issuer)


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step whose code is ``code`` (now, or one step either side), or None."""
    if not CODE_SHAPE.match(code):
        return None
    totp = _totp(secret)
    current = int(now.timestamp()) // PERIOD_SECONDS
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        # Every candidate is compared in constant time; the latest match wins.
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


async def claim_step(user: User, step: int) -> bool:
    """Move the user's last accepted step forward to ``step``; False if it is not
    newer. One conditional update, so of two processes only one can win."""
    claimed = await User.filter(
        Q(totp_last_step__isnull=True) | Q(totp_last_step__lt=step), id=user.id
    ).update(totp_last_step=step)
    return claimed == 1


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD_SECONDS)
