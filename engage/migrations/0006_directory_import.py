from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from engage.alumni.models import ImportStatus
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('engage', '0005_alumni_declared')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ImportJob',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('file_hash', fields.CharField(description="SHA-256 of the file's bytes: the same file resumes the same job.", max_length=64)),
                ('filename', fields.CharField(default='', max_length=255)),
                ('created_by', fields.ForeignKeyField('engage.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='imports', on_delete=OnDelete.SET_NULL)),
                ('status', fields.CharEnumField(default=ImportStatus.RUNNING, description='RUNNING: running\nDONE: done\nFAILED: failed', enum_type=ImportStatus, max_length=16)),
                ('total_rows', fields.IntField(default=0)),
                ('next_row', fields.IntField(default=0, description='Data rows before this one (1-based line numbers aside) are applied.')),
                ('created', fields.IntField(default=0)),
                ('updated', fields.IntField(default=0)),
                ('unchanged', fields.IntField(default=0)),
                ('rejected', fields.IntField(default=0)),
                ('report', fields.JSONField(default=dict, description='Rejected rows: [{"line": 7, "reason": "..."}], and other notes.', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('started_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'alumni_import_job', 'app': 'engage', 'indexes': [Index(fields=['file_hash', 'status'])], 'pk_attr': 'id', 'table_description': 'A CSV import, applied in chunks with a checkpoint: rerunning the same file'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SearchToken',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('alumnus', fields.ForeignKeyField('engage.Alumnus', source_field='alumnus_id', db_constraint=True, to_field='id', related_name='search_tokens', on_delete=OnDelete.CASCADE)),
                ('token', fields.CharField(max_length=64)),
            ],
            options={'table': 'alumni_search_token', 'app': 'engage', 'indexes': [Index(fields=['token', 'alumnus_id'])], 'pk_attr': 'id', 'table_description': 'One folded name token of a profile ("nguyen", "jose"): name search matches'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Segment',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=120)),
                ('filters', fields.JSONField(default=dict, description="The filter as the audience filter's fields (see engage/alumni/audience.py).", encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('owner', fields.ForeignKeyField('engage.User', source_field='owner_id', null=True, db_constraint=True, to_field='id', related_name='segments', on_delete=OnDelete.SET_NULL)),
                ('embassy', fields.ForeignKeyField('engage.Embassy', source_field='embassy_id', null=True, description="Staff segments are global. An attaché's segment stays within the countries", db_constraint=True, to_field='id', related_name='segments', on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'alumni_segment', 'app': 'engage', 'pk_attr': 'id', 'table_description': 'A saved audience filter, reused by the directory, invitations and newsletters.'},
            bases=['Model'],
        ),
    ]
