"""Personas and registry objects shared by the foundation tests.

Alice owns "Alice Corp"; Erin is an admin, Dave an auditor and Bob a viewer there. Charlie owns
"Charlie Corp" and must never see Alice's things. Every API client authenticates by DRF token.
"""

import io
import os
import shutil

import numpy as np
import pandas as pd
import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.choices import Role
from accounts.models import Membership, Organization
from audit import services
from audit.datasets import Schema
from audit.models import AISystem, ModelVersion
from core import artifacts


@pytest.fixture(autouse=True)
def artifact_dir(settings, tmp_path):
    """Give every test its own artifact folder, so that it can count the files written there."""
    settings.ASSAY_ARTIFACT_DIR = tmp_path / "artifacts"
    settings.ASSAY_AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"  # ids are reused between tests
    return settings.ASSAY_ARTIFACT_DIR


def make_user(username: str, organization: Organization | None = None, role: str = Role.VIEWER):
    user = get_user_model().objects.create_user(username, f"{username}@example.org", "password")
    if organization is not None:
        Membership.objects.create(user=user, organization=organization, role=role)
    return user


def api_client(user=None) -> APIClient:
    """Return an API client authenticated with `user`'s token (anonymous without a user)."""
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


#
# Personas
#


@pytest.fixture
def alice_org(db):
    return Organization.objects.create(name="Alice Corp")


@pytest.fixture
def charlie_org(db):
    return Organization.objects.create(name="Charlie Corp")


@pytest.fixture
def alice(alice_org):
    return make_user("alice", alice_org, Role.OWNER)


@pytest.fixture
def erin(alice_org):
    return make_user("erin", alice_org, Role.ADMIN)


@pytest.fixture
def dave(alice_org):
    return make_user("dave", alice_org, Role.AUDITOR)


@pytest.fixture
def bob(alice_org):
    return make_user("bob", alice_org, Role.VIEWER)


@pytest.fixture
def charlie(charlie_org):
    return make_user("charlie", charlie_org, Role.OWNER)


@pytest.fixture
def personas(alice, erin, dave, bob, charlie):
    """Return every persona by name, plus "anonymous" (None)."""
    return {"alice": alice, "erin": erin, "dave": dave, "bob": bob, "charlie": charlie, "anonymous": None}


@pytest.fixture
def client_for(personas):
    """Return a function that gives the API client of a persona by name."""
    return lambda name: api_client(personas[name])


@pytest.fixture
def as_alice(alice):
    return api_client(alice)


@pytest.fixture
def as_bob(bob):
    return api_client(bob)


@pytest.fixture
def as_dave(dave):
    return api_client(dave)


@pytest.fixture
def as_erin(erin):
    return api_client(erin)


@pytest.fixture
def as_charlie(charlie):
    return api_client(charlie)


#
# Data and registry objects
#


def make_frame(rows: int = 60, seed: int = 0) -> pd.DataFrame:
    """Return a small credit-like table: two numeric features, a categorical one, sex, label, split."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, rows)
    income = rng.normal(40.0, 10.0, rows).round(2)
    return pd.DataFrame({
        "age": age,
        "income": income,
        "housing": rng.choice(["own", "rent", "free"], rows),
        "sex": rng.choice(["F", "M"], rows),
        "label": np.where(income + rng.normal(0, 5, rows) > 40, "good", "bad"),
        "split": np.where(np.arange(rows) < rows * 2 // 3, "train", "test"),
    })


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return services.to_csv_bytes(frame)


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def upload_file(data: bytes, filename: str) -> io.BytesIO:
    upload = io.BytesIO(data)
    upload.name = filename
    return upload


def dataset_form(system: AISystem, data: bytes, *, filename: str = "credit.csv", **fields) -> dict:
    """Return a multipart dataset upload form for `system` (fields override the defaults)."""
    form = {"system": system.pk, "name": "credit", "target": "label", "positive_label": "good",
            "sensitive_attributes": "sex", "file": upload_file(data, filename)}
    form.update(fields)
    return form


@pytest.fixture
def frame():
    return make_frame()


@pytest.fixture
def alice_system(alice_org):
    return AISystem.objects.create(organization=alice_org, name="Credit scoring")


@pytest.fixture
def charlie_system(charlie_org):
    return AISystem.objects.create(organization=charlie_org, name="Charlie's chatbot")


@pytest.fixture
def alice_dataset(alice, alice_system, frame):
    schema = Schema(target="label", positive_label="good", sensitive_attributes=["sex"], split_column="split")
    return services.register_dataset(user=alice, system=alice_system, name="credit", filename="credit.csv",
                                     data=csv_bytes(frame), schema=schema)


@pytest.fixture
def alice_model(alice, alice_system, alice_dataset):
    """A model version row over a stored artifact (built directly: no model loader involved)."""
    artifact = artifacts.store(b"model bytes", organization=alice_system.organization, filename="model.zip")
    return ModelVersion.objects.create(
        organization=alice_system.organization, system=alice_system, name="scorer", version=1,
        artifact=artifact, created_by=alice, format="torch-zoo", classes=["bad", "good"],
        features=["age", "income", "housing"], validated_on=alice_dataset,
    )


def _error_of(response) -> dict:
    """Return the error object of a response, checking the one error shape on the way."""
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) <= {"code", "message", "fields"}, error
    assert isinstance(error["code"], str) and error["code"], error
    assert isinstance(error["message"], str) and error["message"], error
    return error


#
# Helpers, as fixtures (test modules do not import from conftest)
#


@pytest.fixture
def error_of():
    """Return a function that checks the one error shape and returns the error object."""
    return _error_of


@pytest.fixture
def helpers():
    """Return the table builders and form helpers: make_frame, csv_bytes, parquet_bytes, dataset_form, upload_file."""
    return Helpers


class Helpers:
    make_frame = staticmethod(make_frame)
    csv_bytes = staticmethod(csv_bytes)
    parquet_bytes = staticmethod(parquet_bytes)
    dataset_form = staticmethod(dataset_form)
    upload_file = staticmethod(upload_file)


#
# Models
#


@pytest.fixture(scope="session")
def zoo_bundle() -> bytes:
    """Return a tiny zoo MLP trained on make_frame(), saved as a torch-zoo zip."""
    from audit.modelio.bundle import save_zoo_bundle
    from audit.modelio.training import train_zoo_model

    module, config = train_zoo_model(make_frame(), features=["age", "income", "housing"], target="label",
                                     positive_label="good", epochs=2, seed=0)
    buffer = io.BytesIO()
    save_zoo_bundle(module, config, buffer)
    return buffer.getvalue()


#
# Browser
#

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def chromium():
    """Return Debian's headless Chromium driven by Playwright (skipped where it is not installed)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed")
    playwright = pytest.importorskip("playwright.sync_api")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs an event loop in this thread
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
