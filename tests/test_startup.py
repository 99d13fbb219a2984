"""Django start-up loads no model or array library: they load when a model, a table or an image is handled."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HEAVY = {"torch", "numpy", "pandas", "scipy", "matplotlib", "onnx", "onnxruntime", "sklearn", "skops"}
WEB = ("import os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'assay.settings'); "
       "from django.core.wsgi import get_wsgi_application; get_wsgi_application(); "
       "import assay.urls; from django.urls import resolve; resolve('/')")


def _imported(args: list[str], tmp_path) -> set[str]:
    env = {**os.environ, "ASSAY_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-X", "importtime", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return {line.split("|")[2].strip() for line in done.stderr.splitlines() if line.count("|") == 2}


@pytest.mark.parametrize("args", [["manage.py", "help"], ["manage.py", "check"], ["manage.py", "watermark", "--help"],
                                  ["-c", WEB]], ids=["help", "check", "watermark", "web"])
def test_it_starts_without_loading_model_or_array_libraries(args, tmp_path):
    assert _imported(args, tmp_path) & HEAVY == set()


def test_the_watermark_payload_split_matches_the_invisible_watermark():
    from watermark import invisible, services

    assert services.ORG_TAG_BITS + services.SERIAL_BITS == invisible.PAYLOAD_BITS
