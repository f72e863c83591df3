from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('engage', '0004_alumni_verification')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Alumnus',
            name='declared_class_year',
            field=fields.SmallIntField(null=True, description='What a self-registered person said (class year, programme ID): shown to'),
        ),
        ops.AddField(
            model_name='Alumnus',
            name='declared_programme_id',
            field=fields.CharField(null=True, max_length=64),
        ),
    ]
