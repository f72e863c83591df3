from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from engage.mail.models import Category, Status
from json import dumps, loads
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='OutboxMessage',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('queued_at', fields.DatetimeField(description='When the message (re)entered the queue. The retry limit (mail.max_age_hours)', auto_now=False, auto_now_add=False)),
                ('template', fields.CharField(description='Folder under ``emails/`` holding subject.txt, body.txt and body.html.', max_length=100)),
                ('category', fields.CharEnumField(description='TRANSACTIONAL: transactional\nBULK: bulk', enum_type=Category, max_length=16)),
                ('dedupe_key', fields.CharField(unique=True, description='Unique per intended message: a retried request or a double click enqueues once.', max_length=255)),
                ('to_address', fields.CharField(max_length=320)),
                ('to_name', fields.CharField(default='', max_length=200)),
                ('recipient_type', fields.CharField(null=True, description='What kind of record the recipient is ("user", "alumnus", ...) and its id, so', max_length=32)),
                ('recipient_id', fields.BigIntField(null=True)),
                ('context', fields.JSONField(default=dict, description='Ids of the records the template needs ({"event": 12}) and small scalars. Never', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('message_key', fields.CharField(unique=True, description='The Message-ID is ``<message_key@mail.domain>``: stable for the row, so a', max_length=64)),
                ('auto_submitted', fields.BooleanField(default=True, description='Automatic mail carries ``Auto-Submitted: auto-generated``.')),
                ('priority', fields.SmallIntField(default=0, description='Higher goes first: a password reset never waits behind a newsletter.')),
                ('status', fields.CharEnumField(default=Status.QUEUED, description='QUEUED: queued\nSENDING: sending\nSENT: sent\nDEFERRED: deferred\nFAILED: failed\nDEAD: dead', enum_type=Status, max_length=16)),
                ('next_attempt_at', fields.DatetimeField(description='Due time of the next attempt.', auto_now=False, auto_now_add=False)),
                ('attempts', fields.IntField(default=0)),
                ('lease_owner', fields.CharField(null=True, description='Which worker holds the row while it is being sent, and until when.', max_length=100)),
                ('lease_expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_attempt_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_error', fields.TextField(null=True, description="The server's reply (or the connection error) of the last failed attempt.", unique=False)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'mail_outbox', 'app': 'engage', 'indexes': [Index(fields=['status', 'next_attempt_at']), Index(fields=['status', 'lease_expires_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
