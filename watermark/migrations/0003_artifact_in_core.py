"""The artifact foreign keys point at core.artifact (the model moved to core, core 0001).

State only in effect: the column and the table it references (audit_artifact) are unchanged, and
`sqlmigrate` shows every AlterField as a no-op on SQLite and PostgreSQL.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0001_initial'),
        ('watermark', '0002_batch_mode'),
    ]

    operations = [
        migrations.AlterField(
            model_name='provenancerecord',
            name='input_artifact',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='core.artifact'),
        ),
        migrations.AlterField(
            model_name='provenancerecord',
            name='output_artifact',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='core.artifact'),
        ),
        migrations.AlterField(
            model_name='signingcredential',
            name='private_key',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='core.artifact'),
        ),
        migrations.AlterField(
            model_name='watermarkbatch',
            name='input_artifact',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='core.artifact'),
        ),
        migrations.AlterField(
            model_name='watermarkbatch',
            name='result_artifact',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='core.artifact'),
        ),
        migrations.AlterField(
            model_name='watermarkkey',
            name='artifact',
            field=models.ForeignKey(help_text='The 32-byte secret, AES-256-GCM encrypted at rest', on_delete=django.db.models.deletion.PROTECT, related_name='+', to='core.artifact'),
        ),
    ]
