from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('engage', '0006_directory_import')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='AuditEvent',
            index=Index(fields=['actor_id', 'at']),
        ),
        ops.AddIndex(
            model_name='AuditEvent',
            index=Index(fields=['at']),
        ),
        ops.AddIndex(
            model_name='CareerEntry',
            index=Index(fields=['alumnus_id', 'effective_date']),
        ),
        ops.AddIndex(
            model_name='SearchToken',
            index=Index(fields=['alumnus_id']),
        ),
        ops.AddIndex(
            model_name='Session',
            index=Index(fields=['user_id', 'last_seen_at']),
        ),
        ops.AddIndex(
            model_name='TrainingRecord',
            index=Index(fields=['alumnus_id', 'class_year']),
        ),
        ops.AddIndex(
            model_name='TrainingRecord',
            index=Index(fields=['course_id', 'alumnus_id']),
        ),
    ]
