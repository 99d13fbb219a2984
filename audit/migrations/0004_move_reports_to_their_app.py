"""Schedules, scheduled runs, reports and deliveries now belong to the reports app (reports 0001).

State only: their tables (audit_schedule, audit_scheduledrun, audit_report, audit_reportdelivery)
stay as they are, with every row; the reports app's models name them in Meta.db_table.
"""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0003_keyed_report_hashes'),
        ('reports', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.DeleteModel(name='ReportDelivery'),
                migrations.DeleteModel(name='Report'),
                migrations.DeleteModel(name='ScheduledRun'),
                migrations.DeleteModel(name='Schedule'),
            ],
        ),
    ]
