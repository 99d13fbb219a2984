"""A reviewer reads an evaluation and reviews an answer on a phone-sized screen (390 px): rates, heat map
and answers shown, nothing overflows sideways, nothing breaks the CSP (script-src 'self')."""

import pytest
from django.contrib.auth import get_user_model

from accounts.choices import Role
from accounts.models import Membership, Organization
from audit.models import AISystem
from core.jobs import run_job
from genai import services
from genai.jobs import EvaluationRunner
from tests.genai.conftest import TINY_BANK

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(chromium):
    page = chromium.new_page(viewport={"width": 390, "height": 844})
    page.set_default_timeout(60_000)
    page.csp_errors = []
    page.on("console", lambda m: page.csp_errors.append(m.text) if "Content Security Policy" in m.text else None)
    yield page


def _overflow(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


def test_an_evaluation_and_its_review_on_a_phone(live_server, page, chat_server):
    org = Organization.objects.create(name="Demo organisation", slug="demo")
    user = get_user_model().objects.create_user("ada", "ada@example.org", "a-long-password")
    Membership.objects.create(user=user, organization=org, role=Role.AUDITOR)
    system = AISystem.objects.create(organization=org, name="Customer support assistant", output_modalities=["text"])
    version = services.upload_bank(org, name="Demo bank (English)", data=TINY_BANK.read_bytes(), filename="tiny.csv",
                                   user=user)
    target = services.register_endpoint(system, name="fake", base_url=chat_server.url, model_name="m", user=user)
    row = services.start_evaluation(target, [version], mutation_names=["roleplay", "split_payload"], user=user,
                                    enqueue=False)
    run_job(EvaluationRunner, row.pk)

    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "ada")
    page.fill("#id_password", "a-long-password")
    page.click("button[type=submit]")
    for url in ("/genai/", f"/genai/banks/{version.bank_id}/", f"/genai/targets/{target.pk}/",
                f"/genai/evaluations/{row.pk}/"):
        page.goto(live_server.url + url)
        assert _overflow(page) <= 0, url
    assert "Should refuse: refusal rate" in page.inner_text("#rates")
    assert "split_payload" in page.inner_text("#heatmap")
    page.goto(f"{live_server.url}/genai/evaluations/{row.pk}/review/")
    assert _overflow(page) <= 0
    form = page.locator("#answers form").first
    form.locator("select[name=verdict]").select_option("fail")
    form.locator("input[name=reason]").fill("the answer is unsafe")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("text=the run was re-scored")
    assert row.items.exclude(human="").count() == 1
    assert page.csp_errors == []
