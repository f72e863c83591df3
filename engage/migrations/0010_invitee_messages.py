from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('engage', '0009_events_invitations')]

    initial = False

    operations = [
        ops.CreateModel(
            name='InviteeMessage',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('event', fields.ForeignKeyField('engage.Event', source_field='event_id', db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.CASCADE)),
                ('subject', fields.CharField(max_length=200)),
                ('body', fields.TextField(description='Markdown, rendered safe at send time.', unique=False)),
                ('statuses', fields.JSONField(default=list, description='Who it goes to: ["not_answered", "coming", "maybe", "waitlisted", "declined",', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_by', fields.ForeignKeyField('engage.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='invitee_messages', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('recipients', fields.IntField(default=0, description='How many outbox rows were written, and who was left out and why ({"reason": n}).')),
                ('skipped', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
            ],
            options={'table': 'invitations_message', 'app': 'engage', 'indexes': [Index(fields=['event_id', 'created_at'])], 'pk_attr': 'id', 'table_description': "A message an attaché writes to some of an event's invitees (chosen by status),"},
            bases=['Model'],
        ),
    ]
