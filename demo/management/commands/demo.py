"""Create (or reuse) the demo organisation, its admin, and the two demo AI systems."""

import gzip
import json
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from rest_framework.authtoken.models import Token

from accounts.choices import Role
from accounts.models import Membership, Organization
from audit import services
from audit.choices import Domain, Modality, ProviderRole
from audit.datasets import Schema
from audit.models import AISystem, DatasetVersion
from core import auditlog

DEMO_DATA = Path(__file__).resolve().parents[3] / "audit" / "demo_data"
CREDENTIALS = "demo_credentials.json"

ADULT_DATASHEET = {
    "sources": "UCI Machine Learning Repository, Adult (Becker & Kohavi 1996), from the 1994 US Census database",
    "collection_period": "1994 Current Population Survey",
    "collection_method": "Extraction by Barry Becker from the census database with filters on age, income, hours",
    "preprocessing": "Original train and test files joined; '?' turned into missing values; rows with "
                              "missing values dropped at audit time",
    "labelling_method": "Income above or below USD 50,000 as reported in the census",
    "personal_data": "yes",
    "personal_data_legal_basis": "De-identified census records published for research (public data set)",
    "licences": "CC BY 4.0",
    "known_biases": "Under-representation of women and non-white groups among high earners; 1994 data",
}
ADULT_CARD = {
    "intended_purpose": "Demonstrate creditworthiness scoring: predict whether income exceeds 50K",
    "provider": "Assay demo organisation",
    "version": "1",
    "evaluation_data": "UCI Adult test split",
    "limitations": "Trained on 1994 US census data; not valid for other populations or periods",
    "foreseeable_misuse": "Automated credit refusal without human review",
    "human_oversight": "A credit officer reviews every refusal",
    "risk_management": "Risk file kept by the model risk team; reviewed at each model version",
    "contact": "governance@example.org",
}


class Command(BaseCommand):
    help = "Create the demo organisation, admin user and demo systems (idempotent) and print the credentials."

    def add_arguments(self, parser):
        parser.add_argument("--epochs", type=int, default=5, help="training epochs of the demo MLP")
        parser.add_argument("--no-model", action="store_true", help="skip training the demo MLP")

    def handle(self, *args, **opts):
        org, user, password = self._organization_and_admin()
        token, _ = Token.objects.get_or_create(user=user)
        adult = self._adult_system(org, user)
        poster = self._poster_system(org, user)
        from compliance.demo import load_samples

        load_samples(poster, user)  # compliance: the poster generator's own outputs as evidence samples
        from moderation.demo import load_demo

        load_demo(org, user)  # moderation: default policy, demo classifier, evaluation
        from genai.demo import load_demo as load_genai_demo

        self.stdout.write("Evaluating the demo chat assistant (SmolLM2, in the sandbox; first start only)…")
        load_genai_demo(org, user)  # genai: "Customer support assistant", SmolLM2 target, demo banks, one run
        dataset = self._adult_dataset(adult, user)
        if not opts["no_model"] and adult.current_model_id is None:
            from audit.management.commands.train_baseline import train_and_register

            self.stdout.write("Training the demo MLP on UCI Adult (first start only)…")
            train_and_register(dataset, architecture="mlp", args={"hidden": [64, 32]}, epochs=opts["epochs"],
                               name="adult-mlp", model_card=ADULT_CARD, user=user,
                               promote_reason="Demo baseline: the first model of the demo system")
        self.stdout.write(self.style.SUCCESS(
            f"Demo ready: organisation {org.name!r}; log in as {user.username!r} with password {password!r}; "
            f"API token {token.key}"
        ))

    def _organization_and_admin(self):
        path = Path(settings.DATA_DIR) / CREDENTIALS
        saved = json.loads(path.read_text()) if path.exists() else {}
        User = get_user_model()
        with transaction.atomic():
            org, created = Organization.objects.get_or_create(slug="demo", defaults={"name": "Demo organisation"})
            if created:
                auditlog.record("organization.create", organization=org, actor="demo", obj=org,
                                payload={"name": org.name, "slug": org.slug})
            user = User.objects.filter(username="admin").first()
            password = saved.get("password")
            if user is None or not password or not user.check_password(password):
                password = secrets.token_urlsafe(12)
                user = user or User(username="admin", email="admin@example.org", is_staff=True)
                user.set_password(password)
                user.save()
                path.write_text(json.dumps({"username": "admin", "password": password}))
                path.chmod(0o600)
            Membership.objects.get_or_create(user=user, organization=org, defaults={"role": Role.OWNER})
        return org, user, password

    def _system(self, org, user, name, **profile):
        system = AISystem.objects.filter(organization=org, name=name).first()
        if system is None:
            system = AISystem.objects.create(organization=org, name=name, **profile)
            auditlog.record("system.create", organization=org, actor=user, obj=system, payload={"name": name})
        return system

    def _adult_system(self, org, user):
        return self._system(
            org, user, "Adult income classifier",
            description="Demo: a creditworthiness model trained on UCI Adult.",
            intended_purpose="Evaluate the creditworthiness of natural persons (income above 50K as a proxy)",
            domain=Domain.ESSENTIAL_SERVICES, annex_iii_point="5(b)", role=ProviderRole.PROVIDER,
            output_modalities=[Modality.NONE], placed_on_eu_market=True,
        )

    def _poster_system(self, org, user):
        return self._system(
            org, user, "Poster image generator",
            description="Demo: a text-to-image service that generates marketing posters.",
            intended_purpose="Generate poster images from text prompts for the public",
            domain=Domain.OTHER, role=ProviderRole.PROVIDER, output_modalities=[Modality.IMAGE],
            public_in_mainland_china=True, users_can_download=True, placed_on_eu_market=True,
        )

    def _adult_dataset(self, system, user):
        existing = DatasetVersion.objects.filter(system=system, name="uci-adult").first()
        if existing:
            return existing
        data = gzip.decompress((DEMO_DATA / "adult.csv.gz").read_bytes())
        schema = Schema(target="income", positive_label=">50K", sensitive_attributes=["sex", "race"],
                        split_column="split")
        return services.register_dataset(user=user, system=system, name="uci-adult", filename="adult.csv",
                                         data=data, schema=schema, datasheet=ADULT_DATASHEET)
