"""Point Django at a throw-away data folder and run Celery tasks eagerly, before settings load.

pytest-django would load the settings during `pytest_load_initial_conftests`, before any conftest
is imported, if the pytest ini named them; so the settings module is named here instead. This file
is the first conftest pytest imports, and tests/conftest.py (imported next, in the same phase)
imports models, so Django is set up at import time rather than in `pytest_configure`.
"""

import os
import shutil
import sys
import tempfile

import django

if "assay.settings" in sys.modules:
    raise RuntimeError("Django settings were loaded before conftest.py could isolate ASSAY_DATA_DIR")

DATA_DIR = tempfile.mkdtemp(prefix="assay-test-")
os.mkdir(os.path.join(DATA_DIR, "static"))  # WhiteNoise warns on every request when STATIC_ROOT is missing
os.environ["ASSAY_DATA_DIR"] = DATA_DIR
os.environ["ASSAY_CELERY_EAGER"] = "1"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "assay.settings")
django.setup()


def pytest_unconfigure(config):
    shutil.rmtree(DATA_DIR, ignore_errors=True)
