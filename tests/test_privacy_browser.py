"""A person trains a DP variant at ε = 2 on the dashboard, sees it audited, then runs a sweep and sees its chart."""

import io
import os

import numpy as np
import pandas as pd
import pytest
from django.contrib.auth import get_user_model

from accounts.choices import Role
from accounts.models import Membership, Organization
from audit import services
from audit.datasets import Schema
from audit.management.commands.train_baseline import train_and_register
from audit.models import AISystem
from privacy.models import DPTrainingRun

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore:Optimal order is the"),
]


@pytest.fixture
def page(chromium):
    page = chromium.new_page(viewport={"width": 1280, "height": 1000})
    page.set_default_timeout(120_000)  # the eager worker trains and audits inside the request
    yield page


@pytest.fixture
def scorer():
    """An organisation with a small zoo MLP trained on a table with a minority group (sex F)."""
    org = Organization.objects.create(name="Credit union", slug="credit")
    user = get_user_model().objects.create_user("ada", "ada@example.org", "a-long-password")
    Membership.objects.create(user=user, organization=org, role=Role.OWNER)
    system = AISystem.objects.create(organization=org, name="Scorer")
    rng = np.random.default_rng(0)
    n = 500
    sex = np.where(rng.random(n) < 0.2, "F", "M")
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    y = np.where(x1 + 0.5 * x2 + (sex == "M") * 0.5 + rng.normal(scale=0.5, size=n) > 0.3, "yes", "no")
    buffer = io.BytesIO()
    pd.DataFrame({"x1": x1, "x2": x2, "sex": sex, "y": y}).to_csv(buffer, index=False)
    dataset = services.register_dataset(user=user, system=system, name="loans", filename="loans.csv",
                                        data=buffer.getvalue(),
                                        schema=Schema(target="y", positive_label="yes", sensitive_attributes=["sex"]))
    model = train_and_register(dataset, architecture="mlp", args={"hidden": [8]}, epochs=3, name="scorer", user=user)
    return model, dataset


def _train(page, epsilons: str) -> None:
    page.fill("#dp-form input[name=epsilons]", epsilons)
    page.fill("#dp-form input[name=epochs]", "2")
    page.fill("#dp-form input[name=batch_size]", "64")
    page.click("#dp-form button[type=submit]")


def test_a_person_trains_a_dp_variant_sees_it_audited_and_sees_the_sweep_chart(live_server, page, scorer, tmp_path):
    model, dataset = scorer
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "ada")
    page.fill("input[name=password]", "a-long-password")
    page.click("button[type=submit]")

    # one variant at ε = 2: the (eager) worker trains it and audits it before the page comes back
    page.goto(f"{live_server.url}/privacy/")
    page.select_option("#dp-form select[name=model_version]", str(model.pk))
    page.select_option("#dp-form select[name=dataset_version]", str(dataset.pk))
    _train(page, "2")
    page.wait_for_selector("#dp-result")
    run = DPTrainingRun.objects.get()
    assert run.status == "succeeded" and run.result["epsilon"] <= 2.0
    assert page.locator("#dp-comparison tbody tr").count() == 5  # accuracy, FAIR-03, PRIV-01 … 03
    page.click("text=Compare all 23 metrics")
    page.wait_for_selector("h1")
    assert "/audits/compare/" in page.url

    # a sweep: its chart draws ε against accuracy, FAIR-03, PRIV-01 and the per-group accuracy loss
    page.goto(f"{live_server.url}/privacy/")
    page.select_option("#dp-form select[name=model_version]", str(model.pk))
    _train(page, "1, 8")
    page.wait_for_selector("#tradeoff-chart svg")
    assert page.locator("#tradeoff-table tbody tr").count() == 4  # the parent and three variants (2, 1, 8)
    assert "sex=F" in page.inner_text("#tradeoff-table")
    page.screenshot(path=str(os.environ.get("ASSAY_SCREENSHOTS", tmp_path)) + "/privacy-tradeoff.png",
                    full_page=True)
