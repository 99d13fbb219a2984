"""The scheduled audits and their reports move from the audit app to their own app.

State only: the tables were created by audit 0002 and 0003 and keep their names (Meta.db_table),
so no row moves; audit 0004 removes the same models from the audit app's state.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('accounts', '0001_initial'),
        ('audit', '0003_keyed_report_hashes'),
        ('django_celery_beat', '0019_alter_periodictasks_options'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name='Report',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(choices=[('audit', 'Audit report'), ('failure', 'Failure report (the audit did not succeed)')], max_length=16)),
                        ('title', models.CharField(max_length=300)),
                        ('content', models.JSONField(help_text='The facts the PDF was rendered from (charts included)')),
                        ('alerts', models.JSONField(blank=True, default=list, help_text='Metrics whose status got worse')),
                        ('changed', models.BooleanField(default=False, help_text='Something moved since the previous report')),
                        ('sha256', models.CharField(help_text='SHA-256 of the PDF', max_length=64)),
                        ('pdf_hmac', models.CharField(blank=True, default='', help_text='HMAC-SHA256 of the PDF under the audit-log key', max_length=64)),
                        ('content_hmac', models.CharField(blank=True, default='', help_text='HMAC-SHA256 of the canonical JSON of `content` under the audit-log key', max_length=64)),
                        ('created', models.DateTimeField(default=django.utils.timezone.now)),
                        ('artifact', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='audit.artifact')),
                        ('audit_run', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='audit.auditrun')),
                        ('created_by', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('organization', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='accounts.organization')),
                        ('previous', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='reports.report')),
                        ('system', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='reports', to='audit.aisystem')),
                    ],
                    options={
                        'db_table': 'audit_report',
                        'ordering': ['-created', '-id'],
                    },
                ),
                migrations.CreateModel(
                    name='ReportDelivery',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('channel', models.CharField(choices=[('email', 'E-mail'), ('webhook', 'Webhook')], max_length=16)),
                        ('status', models.CharField(choices=[('sent', 'Sent'), ('failed', 'Failed')], max_length=16)),
                        ('target', models.CharField(max_length=500)),
                        ('attempts', models.PositiveSmallIntegerField(default=1)),
                        ('detail', models.TextField(blank=True)),
                        ('created', models.DateTimeField(default=django.utils.timezone.now)),
                        ('report', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='reports.report')),
                    ],
                    options={
                        'db_table': 'audit_reportdelivery',
                        'ordering': ['report', 'created', 'id'],
                    },
                ),
                migrations.CreateModel(
                    name='Schedule',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=200)),
                        ('cron', models.CharField(blank=True, help_text='Five fields, e.g. "0 6 * * 1" (UTC)', max_length=120)),
                        ('interval_seconds', models.PositiveIntegerField(blank=True, null=True)),
                        ('config', models.JSONField(blank=True, default=dict, help_text='Audit parameters (METRICS.md)')),
                        ('recipients', models.JSONField(blank=True, default=list, help_text='E-mail addresses')),
                        ('webhook_url', models.URLField(blank=True, max_length=500)),
                        ('webhook_secret', models.CharField(blank=True, help_text='HMAC-SHA256 key of the webhook', max_length=200)),
                        ('enabled', models.BooleanField(default=True)),
                        ('created', models.DateTimeField(auto_now_add=True)),
                        ('updated', models.DateTimeField(auto_now=True)),
                        ('created_by', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('dataset_version', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='audit.datasetversion')),
                        ('model_version', models.ForeignKey(blank=True, help_text="Empty: the system's current model", null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='audit.modelversion')),
                        ('organization', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='accounts.organization')),
                        ('periodic_task', models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='django_celery_beat.periodictask')),
                        ('system', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='schedules', to='audit.aisystem')),
                    ],
                    options={
                        'db_table': 'audit_schedule',
                        'ordering': ['system', 'name', 'id'],
                    },
                ),
                migrations.AddField(
                    model_name='report',
                    name='schedule',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='reports', to='reports.schedule'),
                ),
                migrations.CreateModel(
                    name='ScheduledRun',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('error', models.TextField(blank=True, help_text='Why no audit started')),
                        ('fired_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('audit_run', models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='audit.auditrun')),
                        ('organization', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='accounts.organization')),
                        ('schedule', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='runs', to='reports.schedule')),
                        ('system', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='audit.aisystem')),
                    ],
                    options={
                        'db_table': 'audit_scheduledrun',
                        'ordering': ['-fired_at', '-id'],
                    },
                ),
                migrations.AddField(
                    model_name='report',
                    name='scheduled_run',
                    field=models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='report', to='reports.scheduledrun'),
                ),
            ],
        ),
    ]
