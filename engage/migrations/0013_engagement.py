from tortoise import migrations
from tortoise.migrations import operations as ops
from engage.alumni.models import EngagementKind
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('engage', '0012_newsletters')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Engagement',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('alumnus', fields.ForeignKeyField('engage.Alumnus', source_field='alumnus_id', db_constraint=True, to_field='id', related_name='engagements', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='INVITED: invited\nANSWERED: answered\nATTENDED: attended\nNEWSLETTER: newsletter\nBOUNCED: bounced\nPROFILE_UPDATED: profile_updated\nCAREER_UPDATED: career_updated', enum_type=EngagementKind, max_length=24)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ref_type', fields.CharField(default='', description='What it was about: ("event", 12), ("newsletter", 5), ("invitation", 40)...', max_length=24)),
                ('ref_id', fields.BigIntField(null=True)),
                ('detail', fields.CharField(default='', description='A short human summary ("Said yes to Evening reception", "Promoted to OF-5").', max_length=300)),
            ],
            options={'table': 'alumni_engagement', 'app': 'engage', 'indexes': [Index(fields=['alumnus_id', 'at']), Index(fields=['kind', 'at']), Index(fields=['ref_type', 'ref_id', 'kind'])], 'pk_attr': 'id', 'table_description': "One line of an alumnus's engagement timeline, written where it happens (an"},
            bases=['Model'],
        ),
    ]
