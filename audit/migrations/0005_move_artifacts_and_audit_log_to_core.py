"""Artifacts, audit-log entries and chain heads now belong to the core app (core 0001).

State only: their tables (audit_artifact, audit_auditlogentry, audit_chainhead) stay as they are,
with every row; core's models name them in Meta.db_table. The versions' artifact foreign keys are
re-pointed at core.artifact first (the column and its constraint are unchanged), after compliance,
reports and watermark re-pointed theirs, so that no model state refers to a removed model.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0004_move_reports_to_their_app'),
        ('core', '0001_initial'),
        ('compliance', '0003_artifact_in_core'),
        ('reports', '0003_artifact_in_core'),
        ('watermark', '0003_artifact_in_core'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.AlterField(
                    model_name='modelversion',
                    name='artifact',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='core.artifact'),
                ),
                migrations.AlterField(
                    model_name='datasetversion',
                    name='artifact',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='core.artifact'),
                ),
                migrations.DeleteModel(name='Artifact'),
                migrations.DeleteModel(name='AuditLogEntry'),
                migrations.DeleteModel(name='ChainHead'),
            ],
        ),
    ]
