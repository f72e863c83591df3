from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from engage.accounts.models import Role
from engage.places.models import ProgrammeStatus
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('engage', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Country',
            fields=[
                ('code', fields.CharField(primary_key=True, unique=True, db_index=True, description='ISO 3166-1 alpha-2 code, e.g. "KE".', max_length=2)),
                ('alpha3', fields.CharField(unique=True, max_length=3)),
                ('name', fields.CharField(max_length=120)),
                ('region', fields.CharField(default='', description='UN M49 sub-region, e.g. "Eastern Africa" (empty where M49 has none).', max_length=64)),
                ('continent', fields.CharField(default='', description='UN M49 region, e.g. "Africa".', max_length=32)),
                ('programme_status', fields.CharEnumField(default=ProgrammeStatus.ACTIVE, description='ACTIVE: active\nSUSPENDED: suspended', enum_type=ProgrammeStatus, max_length=16)),
                ('status_changed_at', fields.DatetimeField(null=True, description='When the status last changed, and why (e.g. a suspension after a coup).', auto_now=False, auto_now_add=False)),
                ('status_reason', fields.TextField(default='', unique=False)),
            ],
            options={'table': 'places_country', 'app': 'engage', 'pk_attr': 'code'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Embassy',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('code', fields.CharField(unique=True, description='Short code used in URLs and the API, e.g. "NBO".', max_length=16)),
                ('name', fields.CharField(max_length=200)),
                ('country', fields.ForeignKeyField('engage.Country', source_field='country_id', description='The country the embassy sits in.', db_constraint=True, to_field='code', related_name='embassies', on_delete=OnDelete.RESTRICT)),
                ('city', fields.CharField(max_length=100)),
                ('timezone', fields.CharField(description='IANA zone. Events at this embassy are entered and shown in it.', max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'places_embassy', 'app': 'engage', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Accreditation',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('embassy', fields.ForeignKeyField('engage.Embassy', source_field='embassy_id', db_constraint=True, to_field='id', related_name='accreditations', on_delete=OnDelete.CASCADE)),
                ('country', fields.ForeignKeyField('engage.Country', source_field='country_id', db_constraint=True, to_field='code', related_name='accreditations', on_delete=OnDelete.RESTRICT)),
            ],
            options={'table': 'places_accreditation', 'app': 'engage', 'unique_together': (('embassy', 'country'),), 'pk_attr': 'id', 'table_description': 'An embassy covers its home country and often several others.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Throttle',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('key', fields.CharField(description='e.g. "login:ip:203.0.113.9" or "login:account:a@x.org".', max_length=200)),
                ('bucket', fields.BigIntField(description='The window number: seconds since the epoch divided by the window length.')),
                ('count', fields.IntField(default=0)),
            ],
            options={'table': 'accounts_throttle', 'app': 'engage', 'unique_together': (('key', 'bucket'),), 'pk_attr': 'id', 'table_description': 'A counter per key and fixed window, in the database so it holds across processes.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='User',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('email', fields.CharField(description='As typed by the person (shown back to them).', max_length=320)),
                ('email_key', fields.CharField(unique=True, description='Lower-cased: the unique key, so "A@x.org" and "a@x.org" are one account.', max_length=320)),
                ('password_hash', fields.CharField(null=True, description='argon2id, null until an invited person sets a password.', max_length=255)),
                ('role', fields.CharEnumField(description='ALUMNUS: alumnus\nATTACHE: attache\nSTAFF: staff\nADMIN: admin', enum_type=Role, max_length=16)),
                ('is_active', fields.BooleanField(default=True)),
                ('email_verified_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('timezone', fields.CharField(default='UTC', max_length=64)),
                ('language', fields.CharField(default='en', max_length=16)),
                ('last_login_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('pending_email', fields.CharField(null=True, description='A new address awaiting verification (the current one stays until then).', max_length=320)),
                ('verify_version', fields.IntField(default=0, description='Link-token versions (DESIGN.md): bumping one revokes every link of that purpose.')),
                ('reset_version', fields.IntField(default=0)),
                ('reset_expires_at', fields.DatetimeField(null=True, description='Reset and invitation links expire.', auto_now=False, auto_now_add=False)),
                ('session_version', fields.IntField(default=0, description='Bumped on password change and privilege change: sessions from before end.')),
                ('totp_secret', fields.CharField(null=True, description='TOTP secret, encrypted with a key derived from the app secret.', max_length=255)),
                ('totp_enabled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('totp_last_step', fields.BigIntField(null=True, description='The last accepted TOTP time step: a code is never accepted twice.')),
            ],
            options={'table': 'accounts_user', 'app': 'engage', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ApiToken',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('engage.User', source_field='user_id', db_constraint=True, to_field='id', related_name='api_tokens', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=100)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('prefix', fields.CharField(description='The first characters, shown so people can tell tokens apart.', max_length=16)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('last_used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'accounts_api_token', 'app': 'engage', 'pk_attr': 'id', 'table_description': 'A personal API token (``Authorization: Bearer ...``), stored hashed.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AuditEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('actor', fields.ForeignKeyField('engage.User', source_field='actor_id', null=True, db_constraint=True, to_field='id', related_name='audit_events', on_delete=OnDelete.SET_NULL)),
                ('action', fields.CharField(description='e.g. "user.login", "user.deactivate", "embassy.create".', max_length=64)),
                ('target_type', fields.CharField(default='', max_length=32)),
                ('target_id', fields.CharField(default='', max_length=64)),
                ('details', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('ip', fields.CharField(default='', max_length=45)),
            ],
            options={'table': 'accounts_audit_event', 'app': 'engage', 'indexes': [Index(fields=['target_type', 'target_id'])], 'pk_attr': 'id', 'table_description': 'Who did what to whom: security-relevant actions, kept for review.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='EmbassyAssignment',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('engage.User', source_field='user_id', db_constraint=True, to_field='id', related_name='assignments', on_delete=OnDelete.CASCADE)),
                ('embassy', fields.ForeignKeyField('engage.Embassy', source_field='embassy_id', db_constraint=True, to_field='id', related_name='assignments', on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'accounts_assignment', 'app': 'engage', 'unique_together': (('user', 'embassy'),), 'pk_attr': 'id', 'table_description': 'An attaché works for one or more embassies.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RecoveryCode',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('engage.User', source_field='user_id', db_constraint=True, to_field='id', related_name='recovery_codes', on_delete=OnDelete.CASCADE)),
                ('code_hash', fields.CharField(max_length=64)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'accounts_recovery_code', 'app': 'engage', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Session',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('key_hash', fields.CharField(unique=True, max_length=64)),
                ('user', fields.ForeignKeyField('engage.User', source_field='user_id', db_constraint=True, to_field='id', related_name='sessions', on_delete=OnDelete.CASCADE)),
                ('user_version', fields.IntField(description="The user's session_version when created: a bump ends this session.")),
                ('mfa_passed', fields.BooleanField(default=False, description='False between the password and the second factor.')),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('last_seen_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(description='Absolute limit, whatever the activity.', auto_now=False, auto_now_add=False)),
                ('ip', fields.CharField(default='', max_length=45)),
                ('user_agent', fields.CharField(default='', max_length=300)),
            ],
            options={'table': 'accounts_session', 'app': 'engage', 'pk_attr': 'id', 'table_description': 'A server-side session. The cookie holds a random id, and only its hash is here.'},
            bases=['Model'],
        ),
    ]
