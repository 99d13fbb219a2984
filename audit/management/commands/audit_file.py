"""Audit a model file on a CSV or Parquet file without registering anything (for CI pipelines)."""

import io
import json
import sys
import zipfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audit.datasets import DatasetError, Limits, Schema, parse_table, sniff_table_format, validate
from audit.results import AuditResults

FORMATS = ["onnx", "sklearn", "torch-export", "torch-zoo"]
STREAM_BYTES = 256 * 2**20  # a larger table file is read in chunks (audit.streaming)


def _zip_folder(folder: Path) -> bytes:
    """Return a zoo bundle folder (config.json + weights.safetensors) as zip bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in ("config.json", "weights.safetensors"):
            if not (folder / name).is_file():
                raise ValueError(f"The torch-zoo folder {folder} has no {name}")
            archive.write(folder / name, name)
    return buffer.getvalue()


class Command(BaseCommand):
    # A command line for CI pipelines: Django's system checks import every view and URL (~2 s of start-up);
    # `manage.py check` and the web process run them.
    requires_system_checks: list = []
    help = "Audit a model file on a CSV or Parquet file and write the Result JSON; nothing is registered or stored."

    def add_arguments(self, parser):
        parser.add_argument("--data", required=True,
                            help="CSV or Parquet file with target, sensitive attributes and inputs")
        parser.add_argument("--target", required=True)
        parser.add_argument("--positive-label", required=True)
        parser.add_argument("--sensitive", action="append", default=[], help="sensitive attribute (repeatable)")
        parser.add_argument("--model", required=True, help="model file (a zip or folder for torch-zoo)")
        parser.add_argument("--format", required=True, choices=FORMATS)
        split = parser.add_mutually_exclusive_group()
        split.add_argument("--split-column")
        split.add_argument("--test-size", type=float, default=0.3)
        parser.add_argument("--features", nargs="+", help="model inputs in order")
        parser.add_argument("--categorical", nargs="+", help="inputs perturbations must not touch")
        parser.add_argument("--config", default="{}", help="audit config as a JSON object")
        parser.add_argument("--json", dest="json_path", required=True, help="where to write the Result JSON")
        parser.add_argument("--stream", action="store_true",
                            help="read the table in chunks, whatever its size (automatic beyond "
                                 f"{STREAM_BYTES // 2**20} MB): memory stays bounded, no row limit")

    def handle(self, *args, **opts):
        try:
            result = self._audit(opts)
        except (DatasetError, ValueError, OSError) as exc:
            raise CommandError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
        Path(opts["json_path"]).write_text(json.dumps(result, indent=2))
        failing = AuditResults(result).failing()
        self.stdout.write(f"Audit done in {result['timings']['total_s']:.1f} s; {len(failing)} metric(s) fail"
                          f"{': ' + ', '.join(failing) if failing else ''}; wrote {opts['json_path']}")

    def _audit(self, opts) -> dict:
        from dataclasses import asdict

        from core import sandbox

        config = json.loads(opts["config"])
        if not isinstance(config, dict):
            raise ValueError("--config must be a JSON object")
        path = Path(opts["data"])
        with path.open("rb") as f:
            fmt = sniff_table_format(path.name, f.read(4))
        schema = Schema(
            target=opts["target"], positive_label=opts["positive_label"], features=opts["features"] or [],
            categorical=opts["categorical"], sensitive_attributes=opts["sensitive"],
            split_column=opts["split_column"] or "", test_size=opts["test_size"],
        )
        stream = opts["stream"] or path.stat().st_size > STREAM_BYTES
        if stream:  # checked in the sandbox, chunk by chunk: the file is never read whole here
            table: bytes | Path = path
        else:
            table = path.read_bytes()
            schema = validate(parse_table(table, fmt), schema)
        model_path = Path(opts["model"])
        data = _zip_folder(model_path) if model_path.is_dir() and opts["format"] == "torch-zoo" else model_path.read_bytes()
        request = {"format": opts["format"], "file_format": fmt, "schema": asdict(schema), "classes": None,
                   "stream": stream,
                   "table_limits": asdict(Limits.from_settings()),
                   "config": config, "context": None, "training_assumed": True}
        try:
            outcome = sandbox.run("audit.run", request, {"model": data, "dataset": table},
                                  progress=lambda p, m: print(f"\r{int(p):3d}% {m:<12}", end="", file=sys.stderr))
        except sandbox.SandboxError as exc:
            raise CommandError(str(exc)) from None
        return outcome.result
