"""Users, roles, embassy assignments, sessions, API tokens, MFA, throttles, audit."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class Role(StrEnum):
    ALUMNUS = "alumnus"
    #: Embassy staff: scoped to the countries their embassies are accredited to.
    ATTACHE = "attache"
    STAFF = "staff"
    ADMIN = "admin"


class User(Model):
    id = fields.BigIntField(primary_key=True)
    #: As typed by the person (shown back to them).
    email = fields.CharField(max_length=320)
    #: Lower-cased: the unique key, so "A@x.org" and "a@x.org" are one account.
    email_key = fields.CharField(max_length=320, unique=True)
    #: argon2id, null until an invited person sets a password.
    password_hash = fields.CharField(max_length=255, null=True)
    role = fields.CharEnumField(Role, max_length=16)
    is_active = fields.BooleanField(default=True)
    email_verified_at = fields.DatetimeField(null=True)
    timezone = fields.CharField(max_length=64, default="UTC")
    language = fields.CharField(max_length=16, default="en")
    last_login_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    #: A new address awaiting verification (the current one stays until then).
    pending_email = fields.CharField(max_length=320, null=True)
    #: Link-token versions (DESIGN.md): bumping one revokes every link of that purpose.
    verify_version = fields.IntField(default=0)
    reset_version = fields.IntField(default=0)
    #: Reset and invitation links expire.
    reset_expires_at = fields.DatetimeField(null=True)
    #: Bumped on password change and privilege change: sessions from before end.
    session_version = fields.IntField(default=0)
    #: TOTP secret, encrypted with a key derived from the app secret.
    totp_secret = fields.CharField(max_length=255, null=True)
    totp_enabled_at = fields.DatetimeField(null=True)
    #: The last accepted TOTP time step: a code is never accepted twice.
    totp_last_step = fields.BigIntField(null=True)

    class Meta:
        table = "accounts_user"

    def __str__(self) -> str:
        return f"{self.email} ({self.role})"


class EmbassyAssignment(Model):
    """An attaché works for one or more embassies."""

    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "engage.User", related_name="assignments", on_delete=fields.CASCADE
    )
    embassy = fields.ForeignKeyField(
        "engage.Embassy", related_name="assignments", on_delete=fields.CASCADE
    )

    class Meta:
        table = "accounts_assignment"
        unique_together = (("user", "embassy"),)


class Session(Model):
    """A server-side session. The cookie holds a random id, and only its hash is here."""

    id = fields.BigIntField(primary_key=True)
    key_hash = fields.CharField(max_length=64, unique=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "engage.User", related_name="sessions", on_delete=fields.CASCADE
    )
    #: The user's session_version when created: a bump ends this session.
    user_version = fields.IntField()
    #: False between the password and the second factor.
    mfa_passed = fields.BooleanField(default=False)
    created_at = fields.DatetimeField()
    last_seen_at = fields.DatetimeField()
    #: Absolute limit, whatever the activity.
    expires_at = fields.DatetimeField()
    ip = fields.CharField(max_length=45, default="")
    user_agent = fields.CharField(max_length=300, default="")

    class Meta:
        table = "accounts_session"
        indexes = (("user_id", "last_seen_at"),)


class ApiToken(Model):
    """A personal API token (``Authorization: Bearer ...``), stored hashed."""

    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "engage.User", related_name="api_tokens", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=100)
    token_hash = fields.CharField(max_length=64, unique=True)
    #: The first characters, shown so people can tell tokens apart.
    prefix = fields.CharField(max_length=16)
    created_at = fields.DatetimeField()
    last_used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "accounts_api_token"


class RecoveryCode(Model):
    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "engage.User", related_name="recovery_codes", on_delete=fields.CASCADE
    )
    code_hash = fields.CharField(max_length=64)
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "accounts_recovery_code"


class Throttle(Model):
    """A counter per key and fixed window, in the database so it holds across processes."""

    id = fields.BigIntField(primary_key=True)
    #: e.g. "login:ip:203.0.113.9" or "login:account:a@x.org".
    key = fields.CharField(max_length=200)
    #: The window number: seconds since the epoch divided by the window length.
    bucket = fields.BigIntField()
    count = fields.IntField(default=0)

    class Meta:
        table = "accounts_throttle"
        unique_together = (("key", "bucket"),)


class AuditEvent(Model):
    """Who did what to whom: security-relevant actions, kept for review."""

    id = fields.BigIntField(primary_key=True)
    at = fields.DatetimeField()
    actor: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "engage.User", related_name="audit_events", null=True, on_delete=fields.SET_NULL
    )
    #: e.g. "user.login", "user.deactivate", "embassy.create".
    action = fields.CharField(max_length=64)
    target_type = fields.CharField(max_length=32, default="")
    target_id = fields.CharField(max_length=64, default="")
    details = fields.JSONField(default=dict)
    ip = fields.CharField(max_length=45, default="")

    class Meta:
        table = "accounts_audit_event"
        indexes = (("target_type", "target_id"), ("actor_id", "at"), ("at",))
