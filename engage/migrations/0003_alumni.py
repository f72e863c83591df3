from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from engage.alumni.models import AlumnusStatus, CareerSource, CourseCategory, Service, Vetting
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('engage', '0002_accounts_places')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Alumnus',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('given_name', fields.CharField(description='Names as the person writes them, in any script.', max_length=100)),
                ('family_name', fields.CharField(max_length=100)),
                ('given_name_latin', fields.CharField(default='', description='Latin transliteration (passport spelling where known).', max_length=100)),
                ('family_name_latin', fields.CharField(default='', max_length=100)),
                ('preferred_name', fields.CharField(default='', max_length=100)),
                ('search_key', fields.TextField(default='', description='Normalised name tokens (case, accents and scripts folded) for search.', unique=False)),
                ('email', fields.CharField(null=True, max_length=320)),
                ('email_key', fields.CharField(null=True, unique=True, description='Lower-cased primary email, unique when present.', max_length=320)),
                ('secondary_email', fields.CharField(null=True, max_length=320)),
                ('secondary_verified_at', fields.DatetimeField(null=True, description='A secondary address is used only once verified.', auto_now=False, auto_now_add=False)),
                ('phone', fields.CharField(default='', max_length=40)),
                ('country', fields.ForeignKeyField('engage.Country', source_field='country_id', db_constraint=True, to_field='code', related_name='alumni', on_delete=OnDelete.RESTRICT)),
                ('service', fields.CharEnumField(default=Service.OTHER, description='ARMY: army\nNAVY: navy\nAIR_FORCE: air_force\nMARINES: marines\nCOAST_GUARD: coast_guard\nJOINT: joint\nOTHER: other', enum_type=Service, max_length=16)),
                ('rank', fields.CharField(default='', max_length=100)),
                ('grade', fields.CharField(default='', description='NATO grade of the latest career entry ("OF-5"), empty when unmapped.', max_length=8)),
                ('grade_level', fields.SmallIntField(null=True, description='The grade as a number for ranges: OR-1..OR-9 = 1..9, WO = 10, OF-1..OF-10 = 11..20.')),
                ('position', fields.CharField(default='', max_length=200)),
                ('unit', fields.CharField(default='', max_length=200)),
                ('language', fields.CharField(default='en', max_length=16)),
                ('timezone', fields.CharField(default='UTC', max_length=64)),
                ('status', fields.CharEnumField(default=AlumnusStatus.SERVING, description='SERVING: serving\nRETIRED: retired\nLEFT_SERVICE: left_service\nDECEASED: deceased', enum_type=AlumnusStatus, max_length=16)),
                ('vetting', fields.CharEnumField(default=Vetting.CONFIRMED, description='PENDING: pending\nCONFIRMED: confirmed', enum_type=Vetting, max_length=16)),
                ('confirmed_by', fields.ForeignKeyField('engage.User', source_field='confirmed_by_id', null=True, db_constraint=True, to_field='id', related_name='confirmed_alumni', on_delete=OnDelete.SET_NULL)),
                ('confirmed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('programme_id', fields.CharField(null=True, unique=True, description='Student or record number from the programme, unique when present.', max_length=64)),
                ('accepts_invitations', fields.BooleanField(default=True)),
                ('invitations_consent_at', fields.DatetimeField(null=True, description='Where and when the invitation consent was last given or withdrawn.', auto_now=False, auto_now_add=False)),
                ('invitations_consent_source', fields.CharField(default='', max_length=64)),
                ('accepts_newsletter', fields.BooleanField(default=True)),
                ('newsletter_consent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('newsletter_consent_source', fields.CharField(default='', max_length=64)),
                ('staff_notes', fields.TextField(default='', description='Staff-only. The person sees these in their data export (which says so).', unique=False)),
                ('do_not_engage', fields.BooleanField(default=False, description='Staff-only: left out of all bulk mail (e.g. involvement in a coup).')),
                ('do_not_engage_reason', fields.TextField(default='', unique=False)),
                ('do_not_engage_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('user', fields.OneToOneField('engage.User', source_field='user_id', null=True, description='The account that claimed this profile.', db_constraint=True, to_field='id', related_name='alumnus', on_delete=OnDelete.SET_NULL)),
                ('contact_edited_at', fields.DatetimeField(null=True, description='When the alumnus last edited their contact details (an import then keeps them).', auto_now=False, auto_now_add=False)),
                ('merged_into', fields.ForeignKeyField('engage.Alumnus', source_field='merged_into_id', null=True, description='Set when this profile was merged into another (kept for history).', db_constraint=True, to_field='id', related_name='merged_from', on_delete=OnDelete.SET_NULL)),
                ('erased_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'alumni_alumnus', 'app': 'engage', 'indexes': [Index(fields=['country_id', 'status']), Index(fields=['vetting']), Index(fields=['grade_level'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='CareerEntry',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('alumnus', fields.ForeignKeyField('engage.Alumnus', source_field='alumnus_id', db_constraint=True, to_field='id', related_name='career', on_delete=OnDelete.CASCADE)),
                ('rank', fields.CharField(max_length=100)),
                ('grade', fields.CharField(default='', description='Empty until the rank is mapped (then filled for every entry with that rank).', max_length=8)),
                ('position', fields.CharField(default='', max_length=200)),
                ('effective_date', fields.DateField()),
                ('source', fields.CharEnumField(description='SELF_REPORTED: self_reported\nSTAFF_VERIFIED: staff_verified', enum_type=CareerSource, max_length=16)),
                ('created_by', fields.ForeignKeyField('engage.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='career_entries', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'alumni_career', 'app': 'engage', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Course',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('title', fields.CharField(max_length=200)),
                ('school', fields.CharField(max_length=200)),
                ('category', fields.CharEnumField(default=CourseCategory.OTHER, description='PME: pme\nTECHNICAL: technical\nENGLISH: english\nOTHER: other', enum_type=CourseCategory, max_length=16)),
                ('tags', fields.JSONField(default=list, description='Equipment or weapons systems taught, e.g. ["C-130", "Patriot"].', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
            ],
            options={'table': 'alumni_course', 'app': 'engage', 'unique_together': (('title', 'school'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ErasedIdentity',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('email_hash', fields.CharField(unique=True, max_length=64)),
                ('erased_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'alumni_erased_identity', 'app': 'engage', 'pk_attr': 'id', 'table_description': 'After an erasure, a keyed hash of the email: a later import does not recreate them.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RankMapping',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('country', fields.ForeignKeyField('engage.Country', source_field='country_id', db_constraint=True, to_field='code', related_name='rank_mappings', on_delete=OnDelete.CASCADE)),
                ('service', fields.CharEnumField(description='ARMY: army\nNAVY: navy\nAIR_FORCE: air_force\nMARINES: marines\nCOAST_GUARD: coast_guard\nJOINT: joint\nOTHER: other', enum_type=Service, max_length=16)),
                ('rank_key', fields.CharField(description='The rank as written, normalised (case and accents folded).', max_length=100)),
                ('grade', fields.CharField(default='', description='The NATO grade, or empty while the rank waits in the mapping queue.', max_length=8)),
                ('first_seen_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('mapped_by', fields.ForeignKeyField('engage.User', source_field='mapped_by_id', null=True, db_constraint=True, to_field='id', related_name='rank_mappings', on_delete=OnDelete.SET_NULL)),
                ('mapped_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'alumni_rank_mapping', 'app': 'engage', 'unique_together': (('country', 'service', 'rank_key'),), 'pk_attr': 'id', 'table_description': 'A staff decision on a rank the shipped tables do not know.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TrainingRecord',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('alumnus', fields.ForeignKeyField('engage.Alumnus', source_field='alumnus_id', db_constraint=True, to_field='id', related_name='training', on_delete=OnDelete.CASCADE)),
                ('course', fields.ForeignKeyField('engage.Course', source_field='course_id', db_constraint=True, to_field='id', related_name='records', on_delete=OnDelete.RESTRICT)),
                ('start_date', fields.DateField(null=True)),
                ('end_date', fields.DateField(null=True)),
                ('class_year', fields.SmallIntField(null=True)),
                ('funding_type', fields.CharField(default='', description='One of settings.programme.funding_types.', max_length=32)),
                ('graduated', fields.BooleanField(default=True)),
            ],
            options={'table': 'alumni_training', 'app': 'engage', 'indexes': [Index(fields=['class_year'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
