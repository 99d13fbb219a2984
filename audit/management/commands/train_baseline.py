"""Train a zoo model on a dataset version's training rows and register it as a model version."""

import io
import json

from django.core.management.base import BaseCommand, CommandError

from audit import services
from audit.models import DatasetVersion


class Command(BaseCommand):
    help = "Train a torch-zoo model (logreg, mlp, cnn) on a dataset version and register it."

    def add_arguments(self, parser):
        parser.add_argument("--dataset-version", type=int, required=True)
        parser.add_argument("--architecture", default="mlp", help="zoo architecture (default mlp)")
        parser.add_argument("--hidden", default="64,32", help="MLP widths, comma-separated (default 64,32)")
        parser.add_argument("--epochs", type=int, default=10)
        parser.add_argument("--batch-size", type=int, default=256)
        parser.add_argument("--lr", type=float, default=1e-3)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--name", default="baseline")
        parser.add_argument("--model-card", default="{}", help="JSON object of model-card fields")
        parser.add_argument("--json", dest="json_path", help="write the new model version as JSON here")
        parser.add_argument("--promote", metavar="REASON",
                            help="make the new version its system's current model, for this reason")

    def handle(self, *args, **opts):
        dataset = DatasetVersion.objects.filter(pk=opts["dataset_version"]).select_related("system").first()
        if dataset is None:
            raise CommandError(f"Dataset version {opts['dataset_version']} does not exist")
        try:
            card = json.loads(opts["model_card"])
        except json.JSONDecodeError as exc:
            raise CommandError(f"--model-card is not valid JSON: {exc.msg}") from None
        arch_args = {}
        if opts["architecture"] == "mlp":
            arch_args["hidden"] = [int(w) for w in opts["hidden"].split(",") if w]
        version = train_and_register(dataset, architecture=opts["architecture"], args=arch_args,
                                     epochs=opts["epochs"], batch_size=opts["batch_size"], lr=opts["lr"],
                                     seed=opts["seed"], name=opts["name"], model_card=card,
                                     promote_reason=opts["promote"])
        summary = {"model_version": version.pk, "name": version.name, "version": version.version,
                   "format": version.format, "classes": version.classes, "sha256": version.artifact.sha256}
        if opts["json_path"]:
            with open(opts["json_path"], "w") as fh:
                json.dump(summary, fh, indent=2)
        self.stdout.write(json.dumps(summary))


def train_and_register(dataset: DatasetVersion, *, architecture="mlp", args=None, epochs=10, batch_size=256,
                       lr=1e-3, seed=0, name="baseline", model_card=None, user=None, promote_reason=None):
    """Return a new model version trained on the dataset version's training rows.

    With `promote_reason` the version is also promoted to its system's current model (audit.services.promote_model).
    """
    from audit.modelio.bundle import save_zoo_bundle
    from audit.modelio.training import train_zoo_model

    splits = services.load_splits(dataset)
    module, config = train_zoo_model(
        splits.train, features=splits.schema.features, target=splits.schema.target,
        positive_label=splits.schema.positive_label, categorical=splits.schema.categorical,
        architecture=architecture, args=args, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
    )
    buffer = io.BytesIO()
    save_zoo_bundle(module, config, buffer)
    card = {"architecture": f"{architecture} {json.dumps(args or {})}", "training_data": str(dataset),
            **(model_card or {})}
    version = services.register_model(
        user=user, system=dataset.system, name=name, filename=f"{name}.zip", data=buffer.getvalue(),
        fmt="torch-zoo", validate_on=dataset, model_card=card, training_dataset=dataset,
    )
    if promote_reason:
        services.promote_model(dataset.system, user=user, model_version=version, reason=promote_reason)
    return version
