"""The artifact foreign keys point at core.artifact (the model moved to core, core 0001).

State only in effect: the column and the table it references (audit_artifact) are unchanged, and
`sqlmigrate` shows every AlterField as a no-op on SQLite and PostgreSQL.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0001_initial'),
        ('reports', '0002_content_types'),
    ]

    operations = [
        migrations.AlterField(
            model_name='report',
            name='artifact',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='core.artifact'),
        ),
    ]
