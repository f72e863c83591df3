"""Finding and creating users."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import datetime

from tortoise.transactions import in_transaction

from engage.accounts.audit import record
from engage.accounts.models import EmbassyAssignment, Role, User
from engage.accounts.passwords import hash_password, password_problem
from engage.clock import utcnow
from engage.errors import Conflict, InvalidInput
from engage.i18n import _
from engage.places.models import Embassy
from engage.settings import SecuritySettings


def email_key(email: str) -> str:
    """The case-insensitive identity of an address (NFC, trimmed, lower-cased)."""
    return unicodedata.normalize("NFC", email).strip().lower()


def check_email(email: str) -> str:
    email = unicodedata.normalize("NFC", email).strip()
    local, _sep, domain = email.rpartition("@")
    if (
        not local
        or not domain
        or "." not in domain
        or len(email) > 320
        or any(c.isspace() or c in "<>\r\n,;" for c in email)
    ):
        raise InvalidInput(_("Enter a valid email address."), fields={"email": _("Not valid.")})
    return email


async def find_user(email: str) -> User | None:
    return await User.get_or_none(email_key=email_key(email))


async def create_user(
    email: str,
    *,
    role: Role,
    password: str | None,
    security: SecuritySettings,
    embassy_codes: Sequence[str] = (),
    verified: bool = False,
    actor: User | None = None,
    now: datetime | None = None,
) -> User:
    """Create an account (CLI, admin invitations, demo). Raises Conflict if taken."""
    email = check_email(email)
    if password is not None and (problem := password_problem(password, user_inputs=[email])):
        raise InvalidInput(problem, fields={"password": problem})
    if embassy_codes and role != Role.ATTACHE:
        raise InvalidInput(_("Only attachés are assigned to embassies."))
    embassies = []
    for code in embassy_codes:
        embassy = await Embassy.get_or_none(code=code.upper())
        if embassy is None:
            raise InvalidInput(_("No embassy with code %(code)s.", code=code))
        embassies.append(embassy)
    if await find_user(email):
        raise Conflict(_("An account with this email already exists."))
    password_hash = await hash_password(password, security) if password else None
    now = now or utcnow()
    async with in_transaction() as conn:
        user = await User.create(
            email=email,
            email_key=email_key(email),
            password_hash=password_hash,
            role=role,
            email_verified_at=now if verified else None,
            using_db=conn,
        )
        for embassy in embassies:
            await EmbassyAssignment.create(user=user, embassy=embassy, using_db=conn)
        await record(
            "user.create",
            actor=actor,
            target=("user", user.id),
            details={"role": str(role), "embassies": [e.code for e in embassies]},
            using_db=conn,
        )
    return user
