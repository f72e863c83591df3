"""Countries (ISO 3166, UN M49 region, programme status) and embassies."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class ProgrammeStatus(StrEnum):
    ACTIVE = "active"
    #: No bulk mail to the country's alumni unless staff override one run.
    SUSPENDED = "suspended"


class Country(Model):
    #: ISO 3166-1 alpha-2 code, e.g. "KE".
    code = fields.CharField(max_length=2, primary_key=True)
    alpha3 = fields.CharField(max_length=3, unique=True)
    name = fields.CharField(max_length=120)
    #: UN M49 sub-region, e.g. "Eastern Africa" (empty where M49 has none).
    region = fields.CharField(max_length=64, default="")
    #: UN M49 region, e.g. "Africa".
    continent = fields.CharField(max_length=32, default="")
    programme_status = fields.CharEnumField(
        ProgrammeStatus, max_length=16, default=ProgrammeStatus.ACTIVE
    )
    #: When the status last changed, and why (e.g. a suspension after a coup).
    status_changed_at = fields.DatetimeField(null=True)
    status_reason = fields.TextField(default="")

    class Meta:
        table = "places_country"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Embassy(Model):
    id = fields.IntField(primary_key=True)
    #: Short code used in URLs and the API, e.g. "NBO".
    code = fields.CharField(max_length=16, unique=True)
    name = fields.CharField(max_length=200)
    #: The country the embassy sits in.
    country: fields.ForeignKeyRelation[Country] = fields.ForeignKeyField(
        "engage.Country", related_name="embassies", on_delete=fields.RESTRICT
    )
    city = fields.CharField(max_length=100)
    #: IANA zone. Events at this embassy are entered and shown in it.
    timezone = fields.CharField(max_length=64)
    #: Display name invitations are sent From, e.g. "Alumni desk, Embassy in Nairobi"
    #: (empty: "<embassy name> alumni desk"). The address is at mail.domain.
    sender_name = fields.CharField(max_length=200, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "places_embassy"
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Accreditation(Model):
    """An embassy covers its home country and often several others."""

    id = fields.IntField(primary_key=True)
    embassy: fields.ForeignKeyRelation[Embassy] = fields.ForeignKeyField(
        "engage.Embassy", related_name="accreditations", on_delete=fields.CASCADE
    )
    country: fields.ForeignKeyRelation[Country] = fields.ForeignKeyField(
        "engage.Country", related_name="accreditations", on_delete=fields.RESTRICT
    )

    class Meta:
        table = "places_accreditation"
        unique_together = (("embassy", "country"),)
