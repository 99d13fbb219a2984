"""The content types (and with them the permissions) of the moved models follow them to the core app.

A database migrated before the move has content types audit.artifact, audit.auditlogentry and
audit.chainhead; they are relabelled rather than left stale beside new ones. A fresh database has none yet (Django creates
them after migrating), so this changes nothing there.
"""

from django.db import migrations

MODELS = ("artifact", "auditlogentry", "chainhead")


def _relabel(apps, old: str, new: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MODELS:
        if not ContentType.objects.filter(app_label=new, model=model).exists():
            ContentType.objects.filter(app_label=old, model=model).update(app_label=new)


def forwards(apps, schema_editor):
    _relabel(apps, "audit", "core")


def backwards(apps, schema_editor):
    _relabel(apps, "core", "audit")


class Migration(migrations.Migration):

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('core', '0001_initial'),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
    ]
