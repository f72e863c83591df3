from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from engage.events.models import EventStatus, Visibility
from engage.invitations.models import InvitationSource, InvitationStatus, JobStatus
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('engage', '0008_alumni_sort_indexes')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Event',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('embassy', fields.ForeignKeyField('engage.Embassy', source_field='embassy_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.RESTRICT)),
                ('kind', fields.CharField(description='Slug of the kind file it was created from, e.g. "reception".', max_length=64)),
                ('title', fields.CharField(max_length=200)),
                ('description', fields.TextField(default='', description='Markdown source, rendered in the safe preset and sanitised when shown.', unique=False)),
                ('venue', fields.CharField(default='', max_length=200)),
                ('address', fields.TextField(default='', unique=False)),
                ('online_url', fields.CharField(default='', description='For webinars and hybrid events: the meeting link (https only).', max_length=500)),
                ('starts_at', fields.DatetimeField(description='UTC instants. Entered and shown in ``timezone``.', auto_now=False, auto_now_add=False)),
                ('ends_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('timezone', fields.CharField(description='IANA zone, copied from the embassy when the event is created.', max_length=64)),
                ('capacity', fields.IntField(null=True, description='Seats for invitees and their guests together, null means no limit.')),
                ('guests_allowed', fields.SmallIntField(default=0, description='Guests each invitee may bring, and whether they must be named (security list).')),
                ('guests_named', fields.BooleanField(default=False)),
                ('rsvp_deadline', fields.DatetimeField(null=True, description='Answers are accepted until then (UTC), null means until the start.', auto_now=False, auto_now_add=False)),
                ('questions', fields.JSONField(default=list, description='RSVP questions: [{"id", "label", "type": "text|choice|yes_no", "required", "choices"}].', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('reminders', fields.JSONField(default=list, description='Reminder offsets copied from the kind: [{"before_minutes", "to": "unanswered|coming"}].', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('dress_code', fields.CharField(default='', max_length=200)),
                ('visibility', fields.CharEnumField(default=Visibility.INVITATION, description='INVITATION: invitation\nOPEN: open', enum_type=Visibility, max_length=16)),
                ('status', fields.CharEnumField(default=EventStatus.DRAFT, description='DRAFT: draft\nPUBLISHED: published\nCANCELLED: cancelled', enum_type=EventStatus, max_length=16)),
                ('uid', fields.CharField(unique=True, description="iCalendar UID (stable for the event's life) and SEQUENCE (raised on each", max_length=100)),
                ('sequence', fields.IntField(default=0)),
                ('seats_taken', fields.IntField(default=0, description="Seats taken by yes answers (invitees plus guests), kept under the event's row")),
                ('contact', fields.ForeignKeyField('engage.User', source_field='contact_id', null=True, description='The attaché replies go to (Reply-To of invitations), or null for the creator.', db_constraint=True, to_field='id', related_name='contact_events', on_delete=OnDelete.SET_NULL)),
                ('created_by', fields.ForeignKeyField('engage.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='created_events', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('published_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('cancelled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'events_event', 'app': 'engage', 'indexes': [Index(fields=['embassy_id', 'starts_at']), Index(fields=['status', 'starts_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Invitation',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('event', fields.ForeignKeyField('engage.Event', source_field='event_id', db_constraint=True, to_field='id', related_name='invitations', on_delete=OnDelete.CASCADE)),
                ('alumnus', fields.ForeignKeyField('engage.Alumnus', source_field='alumnus_id', db_constraint=True, to_field='id', related_name='invitations', on_delete=OnDelete.CASCADE)),
                ('status', fields.CharEnumField(default=InvitationStatus.INVITED, description='INVITED: invited\nYES: yes\nNO: no\nMAYBE: maybe\nWAITLISTED: waitlisted\nREVOKED: revoked', enum_type=InvitationStatus, max_length=16)),
                ('source', fields.CharEnumField(default=InvitationSource.INVITED, description='INVITED: invited\nOPEN: open\nWALK_IN: walk_in', enum_type=InvitationSource, max_length=16)),
                ('guests', fields.SmallIntField(default=0, description='Guests the invitee brings (counted in the capacity), and their names when the')),
                ('guest_names', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('answers', fields.JSONField(default=dict, description="Answers to the event's questions, by question id.", encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('responded_at', fields.DatetimeField(null=True, description='When the current answer was given (the waitlist is ordered by it, then id).', auto_now=False, auto_now_add=False)),
                ('waitlisted_at', fields.DatetimeField(null=True, description='When a yes joined the waitlist, and when a seat was given to it.', auto_now=False, auto_now_add=False)),
                ('promoted_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('token_version', fields.IntField(default=1, description='Link-token version for the RSVP link: bumping it revokes the link.')),
                ('invited_by', fields.ForeignKeyField('engage.User', source_field='invited_by_id', null=True, db_constraint=True, to_field='id', related_name='sent_invitations', on_delete=OnDelete.SET_NULL)),
                ('invited_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('arrived_at', fields.DatetimeField(null=True, description='Attendance: when the person arrived and who marked it.', auto_now=False, auto_now_add=False)),
                ('arrived_by', fields.ForeignKeyField('engage.User', source_field='arrived_by_id', null=True, db_constraint=True, to_field='id', related_name='checked_in', on_delete=OnDelete.SET_NULL)),
            ],
            options={'table': 'invitations_invitation', 'app': 'engage', 'unique_together': (('event', 'alumnus'),), 'indexes': [Index(fields=['event_id', 'status', 'waitlisted_at', 'id']), Index(fields=['alumnus_id', 'event_id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='InviteJob',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('event', fields.ForeignKeyField('engage.Event', source_field='event_id', db_constraint=True, to_field='id', related_name='invite_jobs', on_delete=OnDelete.CASCADE)),
                ('created_by', fields.ForeignKeyField('engage.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='invite_jobs', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('audience', fields.JSONField(description='{"alumni_ids": [...]} or {"segment_id": N} or {"filter": {...}}.', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('override_suspension', fields.BooleanField(default=False, description='Staff chose to invite alumni of suspended programmes for this run (audit-logged).')),
                ('status', fields.CharEnumField(default=JobStatus.RUNNING, description='RUNNING: running\nDONE: done\nFAILED: failed', enum_type=JobStatus, max_length=16)),
                ('total', fields.IntField(default=0, description='Audience size when the run started, and the last alumnus id handled.')),
                ('checkpoint', fields.BigIntField(default=0)),
                ('invited', fields.IntField(default=0)),
                ('skipped', fields.JSONField(default=dict, description='{"reason": count}', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('error', fields.TextField(default='', unique=False)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'invitations_invitejob', 'app': 'engage', 'indexes': [Index(fields=['event_id', 'created_at'])], 'pk_attr': 'id', 'table_description': 'A bulk invitation run: the audience is walked in id order, in chunks, with a'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Embassy',
            name='sender_name',
            field=fields.CharField(default='', max_length=200),
        ),
    ]
