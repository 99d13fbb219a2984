# Compliance profile fields of COMPLIANCE.md Appendix 2 (A2.1-A2.3).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0005_move_artifacts_and_audit_log_to_core"),
    ]

    operations = [
        migrations.AddField(
            model_name="aisystem", name="placed_on_market_on",
            field=models.DateField(blank=True, null=True,
                                   help_text="When the system was first placed on the market (Art. 111)"),
        ),
        migrations.AddField(
            model_name="aisystem", name="significantly_changed",
            field=models.BooleanField(
                default=False, help_text="Significantly changed in design after the high-risk date (Art. 111(2))"),
        ),
        migrations.AddField(
            model_name="aisystem", name="art6_3_derogation",
            field=models.BooleanField(
                default=False, help_text="Relies on the Art. 6(3) derogation (not high-risk despite Annex III)"),
        ),
        migrations.AddField(
            model_name="aisystem", name="public_sector",
            field=models.CharField(
                blank=True, default="", max_length=24,
                choices=[("", "No"), ("public_body", "Public body"),
                         ("public_service", "Private provider of public services")],
                help_text="The deployer is a public body or a private provider of public services (Art. 27(1), 49(3))"),
        ),
        migrations.AddField(
            model_name="aisystem", name="interacts_with_persons",
            field=models.BooleanField(
                default=False, help_text="Intended to interact directly with natural persons (Art. 50(1))"),
        ),
        migrations.AddField(
            model_name="aisystem", name="biometric_editing",
            field=models.BooleanField(
                default=False, help_text="Can edit faces, voices or other biometric features (DS Art. 14-15)"),
        ),
        migrations.AddField(
            model_name="aisystem", name="no_public_opinion_reason",
            field=models.TextField(
                blank=True, help_text="Why the service has no public-opinion attribute or mobilisation capacity "
                                      "(without a reason the Chinese filing items apply)"),
        ),
    ]
