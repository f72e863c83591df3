from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from engage.newsletters.models import IssueStatus, TrackingKind
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('engage', '0011_deliverability')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Series',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=200)),
                ('rrule', fields.CharField(description='RFC 5545 recurrence rule (an RRULE value: monthly on the 1st at 09:00, quarterly...).', max_length=500)),
                ('starts_at', fields.DatetimeField(description='First occurrence (UTC) and the zone the rule is read in (wall-clock times).', auto_now=False, auto_now_add=False)),
                ('timezone', fields.CharField(max_length=64)),
                ('audience', fields.JSONField(description='{"segment_id": N} or {"filter": {...}}.', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('subject', fields.CharField(description='Subject and Markdown introduction of each issue (placeholders allowed).', max_length=200)),
                ('body', fields.TextField(default='', unique=False)),
                ('sections', fields.JSONField(default=list, description='Generated sections: ["events", "news"].', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('events_weeks', fields.SmallIntField(default=6, description='How far ahead the events section looks.')),
                ('automatic', fields.BooleanField(default=False, description='True: issues are sent at each date. False: created as drafts for staff to approve.')),
                ('active', fields.BooleanField(default=True)),
                ('next_run_at', fields.DatetimeField(null=True, description='The next occurrence not yet made into an issue (UTC).', auto_now=False, auto_now_add=False)),
                ('created_by', fields.ForeignKeyField('engage.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='newsletter_series', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'newsletters_series', 'app': 'engage', 'indexes': [Index(fields=['active', 'next_run_at'])], 'pk_attr': 'id', 'table_description': 'A recurring newsletter, e.g. "Monthly alumni bulletin".'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Newsletter',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('subject', fields.CharField(max_length=200)),
                ('body', fields.TextField(default='', description='Markdown, with placeholders such as {{ preferred_name | "colleague" }}.', unique=False)),
                ('audience', fields.JSONField(description='{"segment_id": N} or {"filter": {...}}.', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('sections', fields.JSONField(default=list, description='Generated sections for each recipient: ["events", "news"].', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('events_weeks', fields.SmallIntField(default=6)),
                ('series', fields.ForeignKeyField('engage.Series', source_field='series_id', null=True, db_constraint=True, to_field='id', related_name='issues', on_delete=OnDelete.SET_NULL)),
                ('occurrence', fields.DatetimeField(null=True, description='The series occurrence this issue is for (one issue per occurrence).', auto_now=False, auto_now_add=False)),
                ('status', fields.CharEnumField(default=IssueStatus.DRAFT, description='DRAFT: draft\nSCHEDULED: scheduled\nSENDING: sending\nPAUSED: paused\nSENT: sent', enum_type=IssueStatus, max_length=16)),
                ('send_at', fields.DatetimeField(null=True, description='When to send (UTC), and the zone the author typed it in.', auto_now=False, auto_now_add=False)),
                ('send_timezone', fields.CharField(default='UTC', max_length=64)),
                ('news_since', fields.DatetimeField(null=True, description='The alumni news section covers career changes recorded since then.', auto_now=False, auto_now_add=False)),
                ('created_by', fields.ForeignKeyField('engage.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='newsletters', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('started_at', fields.DatetimeField(null=True, description='The send run: audience size when it started, last alumnus id written, rows written.', auto_now=False, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('paused_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('total', fields.IntField(default=0)),
                ('checkpoint', fields.BigIntField(default=0)),
                ('written', fields.IntField(default=0)),
                ('skipped', fields.JSONField(default=dict, description='{"reason": count} of those left out by the eligibility rule.', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('lease_owner', fields.CharField(null=True, description='A worker holds the run while it writes (lease), so two workers never both do.', max_length=100)),
                ('lease_expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'newsletters_newsletter', 'app': 'engage', 'unique_together': (('series', 'occurrence'),), 'indexes': [Index(fields=['status', 'send_at']), Index(fields=['created_at'])], 'pk_attr': 'id', 'table_description': 'One issue.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Tracking',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('newsletter', fields.ForeignKeyField('engage.Newsletter', source_field='newsletter_id', db_constraint=True, to_field='id', related_name='tracking', on_delete=OnDelete.CASCADE)),
                ('message', fields.ForeignKeyField('engage.OutboxMessage', source_field='message_id', null=True, db_constraint=True, to_field='id', related_name='tracking', on_delete=OnDelete.SET_NULL)),
                ('kind', fields.CharEnumField(description='OPEN: open\nCLICK: click', enum_type=TrackingKind, max_length=8)),
                ('url', fields.TextField(default='', unique=False)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'newsletters_tracking', 'app': 'engage', 'indexes': [Index(fields=['newsletter_id', 'kind'])], 'pk_attr': 'id', 'table_description': 'An open (pixel) or a click (signed redirect), recorded only when tracking is on.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Alumnus',
            name='last_contacted_at',
            field=fields.DatetimeField(null=True, description='Kept where the events happen (not recomputed by scanning): the last delivered', auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Alumnus',
            name='last_engaged_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Alumnus',
            name='shares_news',
            field=fields.BooleanField(default=False, description='The person allows their promotions and news to appear in the newsletter.'),
        ),
        ops.AddIndex(
            model_name='Alumnus',
            index=Index(fields=['last_contacted_at']),
        ),
        ops.AddIndex(
            model_name='Alumnus',
            index=Index(fields=['last_engaged_at']),
        ),
    ]
