"""Alumni: profiles, identity and vetting, training, careers, rank mapping, erasure."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class Service(StrEnum):
    ARMY = "army"
    NAVY = "navy"
    AIR_FORCE = "air_force"
    MARINES = "marines"
    COAST_GUARD = "coast_guard"
    JOINT = "joint"
    OTHER = "other"


class AlumnusStatus(StrEnum):
    SERVING = "serving"
    RETIRED = "retired"
    #: No bulk mail.
    LEFT_SERVICE = "left_service"
    #: No mail at all.
    DECEASED = "deceased"


class Vetting(StrEnum):
    #: Self-registered and not yet matched to the roster: not invitable.
    PENDING = "pending"
    CONFIRMED = "confirmed"


class CourseCategory(StrEnum):
    PME = "pme"
    TECHNICAL = "technical"
    ENGLISH = "english"
    OTHER = "other"


class CareerSource(StrEnum):
    SELF_REPORTED = "self_reported"
    STAFF_VERIFIED = "staff_verified"


class Alumnus(Model):
    id = fields.BigIntField(primary_key=True)
    #: Names as the person writes them, in any script.
    given_name = fields.CharField(max_length=100)
    family_name = fields.CharField(max_length=100)
    #: Latin transliteration (passport spelling where known).
    given_name_latin = fields.CharField(max_length=100, default="")
    family_name_latin = fields.CharField(max_length=100, default="")
    preferred_name = fields.CharField(max_length=100, default="")
    #: Normalised name tokens (case, accents and scripts folded) for search.
    search_key = fields.TextField(default="")
    email = fields.CharField(max_length=320, null=True)
    #: Lower-cased primary email, unique when present.
    email_key = fields.CharField(max_length=320, null=True, unique=True)
    secondary_email = fields.CharField(max_length=320, null=True)
    #: A secondary address is used only once verified.
    secondary_verified_at = fields.DatetimeField(null=True)
    #: Link-token version for verifying the secondary address (DESIGN.md).
    secondary_version = fields.IntField(default=0)
    phone = fields.CharField(max_length=40, default="")
    country = fields.ForeignKeyField(
        "engage.Country", related_name="alumni", on_delete=fields.RESTRICT
    )
    service = fields.CharEnumField(Service, max_length=16, default=Service.OTHER)
    rank = fields.CharField(max_length=100, default="")
    #: NATO grade of the latest career entry ("OF-5"), empty when unmapped.
    grade = fields.CharField(max_length=8, default="")
    #: The grade as a number for ranges: OR-1..OR-9 = 1..9, WO = 10, OF-1..OF-10 = 11..20.
    grade_level = fields.SmallIntField(null=True)
    position = fields.CharField(max_length=200, default="")
    unit = fields.CharField(max_length=200, default="")
    language = fields.CharField(max_length=16, default="en")
    timezone = fields.CharField(max_length=64, default="UTC")
    status = fields.CharEnumField(AlumnusStatus, max_length=16, default=AlumnusStatus.SERVING)
    vetting = fields.CharEnumField(Vetting, max_length=16, default=Vetting.CONFIRMED)
    confirmed_by = fields.ForeignKeyField(
        "engage.User", related_name="confirmed_alumni", null=True, on_delete=fields.SET_NULL
    )
    confirmed_at = fields.DatetimeField(null=True)
    #: Student or record number from the programme, unique when present.
    programme_id = fields.CharField(max_length=64, null=True, unique=True)
    #: What a self-registered person said (class year, programme ID): shown to
    #: confirmers and used to spot duplicates, never taken as roster fact.
    declared_class_year = fields.SmallIntField(null=True)
    declared_programme_id = fields.CharField(max_length=64, null=True)
    accepts_invitations = fields.BooleanField(default=True)
    #: Where and when the invitation consent was last given or withdrawn.
    invitations_consent_at = fields.DatetimeField(null=True)
    invitations_consent_source = fields.CharField(max_length=64, default="")
    accepts_newsletter = fields.BooleanField(default=True)
    newsletter_consent_at = fields.DatetimeField(null=True)
    newsletter_consent_source = fields.CharField(max_length=64, default="")
    #: Staff-only. The person sees these in their data export (which says so).
    staff_notes = fields.TextField(default="")
    #: Staff-only: left out of all bulk mail (e.g. involvement in a coup).
    do_not_engage = fields.BooleanField(default=False)
    do_not_engage_reason = fields.TextField(default="")
    do_not_engage_at = fields.DatetimeField(null=True)
    #: The account that claimed this profile.
    user = fields.OneToOneField(
        "engage.User", related_name="alumnus", null=True, on_delete=fields.SET_NULL
    )
    #: When the alumnus last edited their contact details (an import then keeps them).
    contact_edited_at = fields.DatetimeField(null=True)
    #: Set when mail to the primary address hard-bounced (shown to staff and the
    #: attaché), cleared when the address changes.
    email_failing_at = fields.DatetimeField(null=True)
    #: The person allows their promotions and news to appear in the newsletter.
    shares_news = fields.BooleanField(default=False)
    #: Kept where the events happen (not recomputed by scanning): the last delivered
    #: invitation or newsletter or attendance, and the last answer, attendance or
    #: profile update.
    last_contacted_at = fields.DatetimeField(null=True)
    last_engaged_at = fields.DatetimeField(null=True)
    #: Set when this profile was merged into another (kept for history).
    merged_into = fields.ForeignKeyField(
        "engage.Alumnus", related_name="merged_from", null=True, on_delete=fields.SET_NULL
    )
    erased_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "alumni_alumnus"
        indexes = (
            ("country_id", "status"),
            ("vetting",),
            ("grade_level",),
            # The directory's name sort and the export's chunked reads; "updated" sort.
            ("family_name", "given_name", "id"),
            ("updated_at", "id"),
            ("last_contacted_at",),
            ("last_engaged_at",),
        )

    def __str__(self) -> str:
        return f"{self.given_name} {self.family_name}"


class Course(Model):
    id = fields.IntField(primary_key=True)
    title = fields.CharField(max_length=200)
    school = fields.CharField(max_length=200)
    category = fields.CharEnumField(CourseCategory, max_length=16, default=CourseCategory.OTHER)
    #: Equipment or weapons systems taught, e.g. ["C-130", "Patriot"].
    tags = fields.JSONField(default=list)

    class Meta:
        table = "alumni_course"
        unique_together = (("title", "school"),)


class TrainingRecord(Model):
    id = fields.BigIntField(primary_key=True)
    alumnus = fields.ForeignKeyField(
        "engage.Alumnus", related_name="training", on_delete=fields.CASCADE
    )
    course = fields.ForeignKeyField(
        "engage.Course", related_name="records", on_delete=fields.RESTRICT
    )
    start_date = fields.DateField(null=True)
    end_date = fields.DateField(null=True)
    class_year = fields.SmallIntField(null=True)
    #: One of settings.programme.funding_types.
    funding_type = fields.CharField(max_length=32, default="")
    graduated = fields.BooleanField(default=True)

    class Meta:
        table = "alumni_training"
        # Foreign keys get no index of their own: the directory filters by person and
        # by course, and must stay flat from 10,000 to 100,000 alumni.
        indexes = (("class_year",), ("alumnus_id", "class_year"), ("course_id", "alumnus_id"))


class CareerEntry(Model):
    id = fields.BigIntField(primary_key=True)
    alumnus = fields.ForeignKeyField(
        "engage.Alumnus", related_name="career", on_delete=fields.CASCADE
    )
    rank = fields.CharField(max_length=100)
    #: Empty until the rank is mapped (then filled for every entry with that rank).
    grade = fields.CharField(max_length=8, default="")
    position = fields.CharField(max_length=200, default="")
    effective_date = fields.DateField()
    source = fields.CharEnumField(CareerSource, max_length=16)
    created_by = fields.ForeignKeyField(
        "engage.User", related_name="career_entries", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    #: Who confirmed a self-reported entry, and when.
    verified_by = fields.ForeignKeyField(
        "engage.User", related_name="verified_career_entries", null=True, on_delete=fields.SET_NULL
    )
    verified_at = fields.DatetimeField(null=True)

    class Meta:
        table = "alumni_career"
        indexes = (("alumnus_id", "effective_date"),)


class RankMapping(Model):
    """A staff decision on a rank the shipped tables do not know."""

    id = fields.IntField(primary_key=True)
    country = fields.ForeignKeyField(
        "engage.Country", related_name="rank_mappings", on_delete=fields.CASCADE
    )
    service = fields.CharEnumField(Service, max_length=16)
    #: The rank as written, normalised (case and accents folded).
    rank_key = fields.CharField(max_length=100)
    #: The NATO grade, or empty while the rank waits in the mapping queue.
    grade = fields.CharField(max_length=8, default="")
    first_seen_at = fields.DatetimeField(auto_now_add=True)
    mapped_by = fields.ForeignKeyField(
        "engage.User", related_name="rank_mappings", null=True, on_delete=fields.SET_NULL
    )
    mapped_at = fields.DatetimeField(null=True)

    class Meta:
        table = "alumni_rank_mapping"
        unique_together = (("country", "service", "rank_key"),)


class ErasedIdentity(Model):
    """After an erasure, a keyed hash of the email: a later import does not recreate them."""

    id = fields.BigIntField(primary_key=True)
    email_hash = fields.CharField(max_length=64, unique=True)
    erased_at = fields.DatetimeField()

    class Meta:
        table = "alumni_erased_identity"


class SearchToken(Model):
    """One folded name token of a profile ("nguyen", "jose"): name search matches
    token prefixes through this index, the same on SQLite and PostgreSQL."""

    id = fields.BigIntField(primary_key=True)
    alumnus = fields.ForeignKeyField(
        "engage.Alumnus", related_name="search_tokens", on_delete=fields.CASCADE
    )
    token = fields.CharField(max_length=64)

    class Meta:
        table = "alumni_search_token"
        indexes = (("token", "alumnus_id"), ("alumnus_id",))


class Segment(Model):
    """A saved audience filter, reused by the directory, invitations and newsletters."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=120)
    #: The filter as the audience filter's fields (see engage/alumni/audience.py).
    filters = fields.JSONField(default=dict)
    owner = fields.ForeignKeyField(
        "engage.User", related_name="segments", null=True, on_delete=fields.SET_NULL
    )
    #: Staff segments are global. An attaché's segment stays within the countries
    #: of the embassies it names (their scope when it was saved).
    embassy = fields.ForeignKeyField(
        "engage.Embassy", related_name="segments", null=True, on_delete=fields.CASCADE
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "alumni_segment"


class ImportStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ImportJob(Model):
    """A CSV import, applied in chunks with a checkpoint: rerunning the same file
    resumes where a crash stopped it."""

    id = fields.BigIntField(primary_key=True)
    #: SHA-256 of the file's bytes: the same file resumes the same job.
    file_hash = fields.CharField(max_length=64)
    filename = fields.CharField(max_length=255, default="")
    created_by = fields.ForeignKeyField(
        "engage.User", related_name="imports", null=True, on_delete=fields.SET_NULL
    )
    status = fields.CharEnumField(ImportStatus, max_length=16, default=ImportStatus.RUNNING)
    total_rows = fields.IntField(default=0)
    #: Data rows before this one (1-based line numbers aside) are applied.
    next_row = fields.IntField(default=0)
    created = fields.IntField(default=0)
    updated = fields.IntField(default=0)
    unchanged = fields.IntField(default=0)
    rejected = fields.IntField(default=0)
    #: Rejected rows: [{"line": 7, "reason": "..."}], and other notes.
    report = fields.JSONField(default=dict)
    started_at = fields.DatetimeField(auto_now_add=True)
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "alumni_import_job"
        indexes = (("file_hash", "status"),)


class EngagementKind(StrEnum):
    INVITED = "invited"
    ANSWERED = "answered"
    ATTENDED = "attended"
    NEWSLETTER = "newsletter"
    BOUNCED = "bounced"
    PROFILE_UPDATED = "profile_updated"
    CAREER_UPDATED = "career_updated"


class Engagement(Model):
    """One line of an alumnus's engagement timeline, written where it happens (an
    invitation delivered, an answer, an arrival, a newsletter delivered, a bounce,
    a profile or career update). Insights aggregate these and the summary columns
    ``Alumnus.last_contacted_at`` / ``last_engaged_at`` kept beside them."""

    id = fields.BigIntField(primary_key=True)
    alumnus = fields.ForeignKeyField(
        "engage.Alumnus", related_name="engagements", on_delete=fields.CASCADE
    )
    kind = fields.CharEnumField(EngagementKind, max_length=24)
    at = fields.DatetimeField()
    #: What it was about: ("event", 12), ("newsletter", 5), ("invitation", 40)...
    ref_type = fields.CharField(max_length=24, default="")
    ref_id = fields.BigIntField(null=True)
    #: A short human summary ("Said yes to Evening reception", "Promoted to OF-5").
    detail = fields.CharField(max_length=300, default="")

    class Meta:
        table = "alumni_engagement"
        indexes = (("alumnus_id", "at"), ("kind", "at"), ("ref_type", "ref_id", "kind"))
