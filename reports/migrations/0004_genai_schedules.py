"""Generative evaluations can be scheduled like audits: a schedule kind, its target and banks, and the
evaluation each firing started and each report rendered (issue 16)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0008_dataset_labels'),
        ('genai', '0001_initial'),
        ('reports', '0003_artifact_in_core'),
    ]

    operations = [
        migrations.AddField(
            model_name='report',
            name='evaluation',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='genai.evaluation'),
        ),
        migrations.AddField(
            model_name='schedule',
            name='banks',
            field=models.ManyToManyField(blank=True, help_text="An evaluation schedule's banks (their current versions at run time)", related_name='schedules', to='genai.bank'),
        ),
        migrations.AddField(
            model_name='schedule',
            name='kind',
            field=models.CharField(choices=[('audit', 'Audit of a model on a dataset'), ('genai', 'Generative safety evaluation of a target on banks')], default='audit', max_length=16),
        ),
        migrations.AddField(
            model_name='schedule',
            name='target',
            field=models.ForeignKey(blank=True, help_text='What an evaluation schedule evaluates', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='schedules', to='genai.target'),
        ),
        migrations.AddField(
            model_name='scheduledrun',
            name='evaluation',
            field=models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='genai.evaluation'),
        ),
        migrations.AlterField(
            model_name='report',
            name='kind',
            field=models.CharField(choices=[('audit', 'Audit report'), ('genai', 'Generative evaluation report (the self-assessment)'), ('failure', 'Failure report (the audit or evaluation did not succeed)')], max_length=16),
        ),
        migrations.AlterField(
            model_name='schedule',
            name='config',
            field=models.JSONField(blank=True, default=dict, help_text="Audit parameters (METRICS.md), or an evaluation's (sample, seed, max_new_tokens …)"),
        ),
        migrations.AlterField(
            model_name='schedule',
            name='dataset_version',
            field=models.ForeignKey(blank=True, help_text='What an audit schedule audits on', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='audit.datasetversion'),
        ),
        migrations.AlterField(
            model_name='scheduledrun',
            name='error',
            field=models.TextField(blank=True, help_text='Why no audit or evaluation started'),
        ),
    ]
