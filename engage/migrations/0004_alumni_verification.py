from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('engage', '0003_alumni')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Alumnus',
            name='secondary_version',
            field=fields.IntField(default=0, description='Link-token version for verifying the secondary address (DESIGN.md).'),
        ),
        ops.AddField(
            model_name='CareerEntry',
            name='verified_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='CareerEntry',
            name='verified_by',
            field=fields.ForeignKeyField('engage.User', source_field='verified_by_id', null=True, description='Who confirmed a self-reported entry, and when.', db_constraint=True, to_field='id', related_name='verified_career_entries', on_delete=OnDelete.SET_NULL),
        ),
    ]
