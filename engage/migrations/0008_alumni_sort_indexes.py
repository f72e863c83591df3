from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('engage', '0007_indexes')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='Alumnus',
            index=Index(fields=['family_name', 'given_name', 'id']),
        ),
        ops.AddIndex(
            model_name='Alumnus',
            index=Index(fields=['updated_at', 'id']),
        ),
    ]
