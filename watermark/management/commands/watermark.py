"""`python manage.py watermark stamp IN OUT …` and `python manage.py watermark verify IN …` (WATERMARK.md)."""

import getpass
import json
import os

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Organization
from audit.models import AISystem
from core.lazy import LazyModule
from watermark import explicit, services
from watermark.choices import Source

imageio = LazyModule("watermark.imageio")  # NumPy loads with the first image


class Command(BaseCommand):
    # A command line for CI pipelines: Django's system checks import every view and URL (~2 s of start-up);
    # `manage.py check` and the web process run them.
    requires_system_checks: list = []
    help = "Stamp an image with the AI-generated-content layers, or verify them."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        stamp = sub.add_parser("stamp", help="stamp IN and write OUT (its extension picks the format)")
        stamp.add_argument("input", metavar="IN")
        stamp.add_argument("output", metavar="OUT")
        stamp.add_argument("--org", help="organisation slug (may be omitted when there is one organisation)")
        stamp.add_argument("--system", help="AI system id (or name) recorded in the provenance record")
        stamp.add_argument("--model-version", default="", help="the generating model's version")
        stamp.add_argument("--text", help="explicit label text (default: the organisation's, e.g. AI生成)")
        stamp.add_argument("--corner", choices=explicit.CORNERS, help="label corner (default bottom-right)")
        for layer, what in (("visible", "the explicit label"), ("metadata", "the AIGC metadata label"),
                            ("c2pa", "the C2PA manifest"), ("invisible", "the invisible watermark")):
            stamp.add_argument(f"--no-{layer}", action="store_true", help=f"leave out {what}")
        verify = sub.add_parser("verify", help="report every layer of IN as JSON")
        verify.add_argument("input", metavar="IN")
        verify.add_argument("--org", help="try only this organisation's keys (default: every organisation's)")
        verify.add_argument("--json", dest="json_path", metavar="OUT", help="write the report here")

    def handle(self, *args, **opts):
        data = self._read(opts["input"])
        try:
            if opts["action"] == "stamp":
                self._stamp(data, opts)
            else:
                self._verify(data, opts)
        except services.WatermarkError as exc:
            raise CommandError(str(exc)) from None

    @staticmethod
    def _read(path: str) -> bytes:
        try:
            with open(path, "rb") as fh:
                return fh.read()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}") from None

    @staticmethod
    def _organization(slug: str | None) -> Organization:
        if slug:
            org = Organization.objects.filter(slug=slug).first()
            if org is None:
                raise CommandError(f"No organisation with slug {slug!r}")
            return org
        orgs = list(Organization.objects.all()[:2])
        if len(orgs) != 1:
            raise CommandError("Name the organisation with --org SLUG: this installation has "
                               + ("none" if not orgs else "several"))
        return orgs[0]

    @staticmethod
    def _system(org: Organization, ref: str | None) -> AISystem | None:
        if not ref:
            return None
        systems = AISystem.objects.filter(organization=org)
        system = systems.filter(pk=int(ref)).first() if ref.isdigit() else systems.filter(name=ref).first()
        if system is None:
            raise CommandError(f"No AI system {ref!r} in organisation {org.slug}")
        return system

    def _stamp(self, data: bytes, opts: dict) -> None:
        org = self._organization(opts["org"])
        extension = os.path.splitext(opts["output"])[1]
        try:
            fmt = imageio.normalise_format(extension) if extension else None
        except imageio.ImageError:
            fmt = None  # an unknown extension keeps the input's format
        options = services.StampOptions(
            layers={layer: False if opts[f"no_{layer}"] else None for layer in ("visible", "metadata", "c2pa",
                                                                                 "invisible")},
            text=opts["text"], corner=opts["corner"], output_format=fmt, system=self._system(org, opts["system"]),
            model_version=opts["model_version"] or "", source=Source.CLI, filename=os.path.basename(opts["input"]),
        )
        result, record = services.stamp(data, organization=org, actor_name=f"cli:{_whoami()}", options=options)
        try:
            with open(opts["output"], "wb") as fh:
                fh.write(result.data)
        except OSError as exc:
            raise CommandError(f"Cannot write {opts['output']}: {exc.strerror}") from None
        layers = ", ".join(name for name, on in record.layers.items() if on)
        self.stdout.write(f"Stamped {opts['output']} ({result.format}, {result.width}×{result.height}): {layers}; "
                          f"record {record.pk}, payload {record.payload or '-'}, ProduceID {record.produce_id_text}")

    def _verify(self, data: bytes, opts: dict) -> None:
        orgs = [self._organization(opts["org"])] if opts["org"] else list(Organization.objects.all())
        report = services.verify(data, organizations=orgs)
        text = json.dumps(report, indent=2, ensure_ascii=False, default=str)
        if opts["json_path"]:
            with open(opts["json_path"], "w", encoding="utf-8") as fh:
                fh.write(text + "\n")
            inv = report["invisible"]
            self.stdout.write(
                f"explicit recorded={report['explicit']['recorded']} · implicit present={report['implicit']['present']} "
                f"integrity={report['implicit']['integrity']} · c2pa {report['c2pa']['state']} · invisible "
                f"detected={inv['detected']} (false-positive probability {inv['false_positive_probability']:.1e})")
        else:
            self.stdout.write(text)


def _whoami() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
