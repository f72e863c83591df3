from tortoise import migrations
from tortoise.migrations import operations as ops
from engage.mail.models import BounceKind, Status, SuppressionReason, SuppressionScope, Topic
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

async def _restore_outbox_indexes(apps, schema_editor):
    """SQLite's AlterField rebuilds mail_outbox and drops its plain indexes: put the
    worker's two back (PostgreSQL alters in place and keeps them)."""
    if schema_editor.client.capabilities.dialect != "sqlite":
        return
    for columns in (["status", "next_attempt_at"], ["status", "lease_expires_at"]):
        name = schema_editor._generate_index_name_for_table("idx", "mail_outbox", columns)
        quoted = ", ".join(f'"{c}"' for c in columns)
        await schema_editor.client.execute_script(
            f'CREATE INDEX IF NOT EXISTS "{name}" ON "mail_outbox" ({quoted})'
        )


class Migration(migrations.Migration):
    dependencies = [('engage', '0010_invitee_messages')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Bounce',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('kind', fields.CharEnumField(description='HARD: hard\nSOFT: soft\nCOMPLAINT: complaint', enum_type=BounceKind, max_length=16)),
                ('address_key', fields.CharField(max_length=320)),
                ('message', fields.ForeignKeyField('engage.OutboxMessage', source_field='message_id', null=True, db_constraint=True, to_field='id', related_name='bounces', on_delete=OnDelete.SET_NULL)),
                ('status_code', fields.CharField(default='', description='RFC 3463 status ("5.1.1") and the remote server\'s diagnostic, as reported.', max_length=16)),
                ('diagnostic', fields.TextField(default='', unique=False)),
                ('reporter', fields.CharField(default='', description='Who reported it (the reporting MTA, or "smtp" for a reply at send time).', max_length=200)),
            ],
            options={'table': 'mail_bounce', 'app': 'engage', 'indexes': [Index(fields=['address_key', 'received_at']), Index(fields=['received_at'])], 'pk_attr': 'id', 'table_description': 'A delivery status notification, complaint report or 5xx reply, as received.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RelayBudget',
            fields=[
                ('relay', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=200)),
                ('next_slot_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('hour_started_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('hour_count', fields.IntField(default=0)),
            ],
            options={'table': 'mail_relay_budget', 'app': 'engage', 'pk_attr': 'relay', 'table_description': 'The send rate of one relay, shared by every worker process: each send takes'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RelayConnection',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('relay', fields.CharField(max_length=200)),
                ('slot', fields.SmallIntField()),
                ('holder', fields.CharField(null=True, max_length=100)),
                ('expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'mail_relay_connection', 'app': 'engage', 'unique_together': (('relay', 'slot'),), 'pk_attr': 'id', 'table_description': 'A numbered connection slot to a relay, leased by one worker at a time: the'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Suppression',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('address_key', fields.CharField(description='Lower-cased address.', max_length=320)),
                ('scope', fields.CharEnumField(description='INVITATIONS: invitations\nNEWSLETTER: newsletter\nALL: all', enum_type=SuppressionScope, max_length=16)),
                ('reason', fields.CharEnumField(description='UNSUBSCRIBED: unsubscribed\nHARD_BOUNCE: hard_bounce\nCOMPLAINT: complaint\nMANUAL: manual', enum_type=SuppressionReason, max_length=16)),
                ('detail', fields.TextField(default='', description="The server's words, the report's summary, or a note by staff.", unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('message', fields.ForeignKeyField('engage.OutboxMessage', source_field='message_id', null=True, description='The message that caused it (bounce, complaint, unsubscribe link), if any.', db_constraint=True, to_field='id', related_name='suppressions', on_delete=OnDelete.SET_NULL)),
            ],
            options={'table': 'mail_suppression', 'app': 'engage', 'unique_together': (('address_key', 'scope'),), 'pk_attr': 'id', 'table_description': 'An address that must not receive some mail. A hard bounce also stops'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Alumnus',
            name='email_failing_at',
            field=fields.DatetimeField(null=True, description='Set when mail to the primary address hard-bounced (shown to staff and the', auto_now=False, auto_now_add=False),
        ),
        ops.AlterField(
            model_name='OutboxMessage',
            name='status',
            field=fields.CharEnumField(default=Status.QUEUED, description='QUEUED: queued\nSENDING: sending\nSENT: sent\nDEFERRED: deferred\nFAILED: failed\nDEAD: dead\nSKIPPED: skipped', enum_type=Status, max_length=16),
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='campaign',
            field=fields.CharField(null=True, description='The run that wrote it ("invite:12", "newsletter:5"), for progress and stats.', max_length=64),
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='skip_reason',
            field=fields.CharField(null=True, description='Why a row was skipped at send time (suppressed, no consent, ...).', max_length=64),
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='topic',
            field=fields.CharEnumField(null=True, description='INVITATIONS: invitations\nNEWSLETTER: newsletter', enum_type=Topic, max_length=16),
        ),
        ops.AddIndex(
            model_name='OutboxMessage',
            index=Index(fields=['campaign', 'status']),
        ),
        ops.RunPython(_restore_outbox_indexes, ops.RunPython.noop),
    ]
