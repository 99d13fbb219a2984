"""The encrypted artifact and the audit log (its entries and chain heads) move from the audit app to core.

State only: the tables were created by audit 0001 and keep their names (Meta.db_table), so no row
moves; audit 0005 re-points the registry's foreign keys and removes the same models from the audit
app's state, after compliance, reports and watermark re-pointed theirs.
"""

import django.db.models.deletion
import django.utils.timezone
import uuid
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('accounts', '0001_initial'),
        ('audit', '0004_move_reports_to_their_app'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name='Artifact',
                    fields=[
                        ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ('sha256', models.CharField(help_text='SHA-256 of the plaintext', max_length=64)),
                        ('size', models.BigIntegerField()),
                        ('filename', models.CharField(max_length=255)),
                        ('key_id', models.CharField(help_text='Which encryption key sealed it', max_length=16)),
                        ('created', models.DateTimeField(auto_now_add=True)),
                        ('organization', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='accounts.organization')),
                    ],
                    options={
                        'db_table': 'audit_artifact',
                    },
                ),
                migrations.CreateModel(
                    name='ChainHead',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('seq', models.PositiveBigIntegerField(default=0)),
                        ('hash', models.CharField(default='0000000000000000000000000000000000000000000000000000000000000000', max_length=64)),
                        ('organization', models.OneToOneField(null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organization')),
                    ],
                    options={
                        'db_table': 'audit_chainhead',
                    },
                ),
                migrations.CreateModel(
                    name='AuditLogEntry',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('seq', models.PositiveBigIntegerField()),
                        ('created', models.DateTimeField(default=django.utils.timezone.now)),
                        ('actor_name', models.CharField(blank=True, max_length=150)),
                        ('action', models.CharField(max_length=64)),
                        ('object_type', models.CharField(blank=True, max_length=64)),
                        ('object_id', models.CharField(blank=True, max_length=64)),
                        ('payload', models.JSONField(default=dict)),
                        ('prev_hash', models.CharField(max_length=64)),
                        ('hash', models.CharField(max_length=64)),
                        ('actor', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('organization', models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='accounts.organization')),
                    ],
                    options={
                        'db_table': 'audit_auditlogentry',
                        'ordering': ['organization_id', 'seq'],
                        'indexes': [models.Index(fields=['organization', 'object_type', 'object_id'], name='audit_log_object')],
                        'constraints': [models.UniqueConstraint(fields=('organization', 'seq'), name='audit_log_unique_seq')],
                    },
                ),
            ],
        ),
    ]
