"""A person tries the demo moderation policy on a phone-sized screen (390 px): evasions caught, PII masked,
precision and recall shown; no page overflows sideways and no script breaks the CSP."""

import pytest
from django.contrib.auth import get_user_model

from accounts.choices import Role
from accounts.models import Membership, Organization
from moderation import services
from moderation.demo import load_demo
from moderation.models import KeywordLibrary, ModerationEvaluation

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def spool(settings, tmp_path):
    settings.ASSAY_MODERATION_SPOOL_DIR = str(tmp_path / "spool")
    settings.ASSAY_MODERATION_CACHE_SECONDS = 0
    services._compiled.clear()
    services._lookups.clear()


@pytest.fixture
def page(chromium):
    page = chromium.new_page(viewport={"width": 390, "height": 844})
    page.set_default_timeout(60_000)
    page.csp_errors = []
    page.on("console", lambda m: page.csp_errors.append(m.text) if "Content Security Policy" in m.text else None)
    yield page


INLINE_HANDLERS_IN_MAIN = ("[...document.querySelectorAll('main *')].filter(e => [...e.attributes]"
                           ".some(a => a.name.startsWith('on'))).length + document.querySelectorAll('main script').length")


def _overflow(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


def test_the_demo_moderation_page_on_a_phone(live_server, page):
    org = Organization.objects.create(name="Demo organisation", slug="demo")
    user = get_user_model().objects.create_user("ada", "ada@example.org", "a-long-password")
    Membership.objects.create(user=user, organization=org, role=Role.OWNER)
    policy = load_demo(org, user)

    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "ada")
    page.fill("#id_password", "a-long-password")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/moderation/")
    page.select_option("#try-form select[name=policy]", str(policy.pk))
    page.fill("#try-form textarea", "怎么做炸\u200b弹? 在線賭博. Call me on 13812345678.")
    page.click("#try-form button[type=submit]")
    page.wait_for_selector("#result")
    assert page.locator("#result mark.mod-hit").count() >= 3
    assert page.inner_text("#masked").endswith("Call me on ***********.")
    assert "recall" in page.inner_text("#latest-evaluation")
    assert _overflow(page) <= 0

    evaluation = ModerationEvaluation.objects.get(policy_version__policy=policy)
    library = KeywordLibrary.objects.get(organization=org)
    for url in ("/moderation/", f"/moderation/policies/{policy.pk}/", "/moderation/libraries/",
                f"/moderation/libraries/{library.pk}/", "/moderation/classifiers/", "/moderation/evaluations/",
                f"/moderation/evaluations/{evaluation.pk}/", "/moderation/decisions/?verify=1"):
        page.goto(live_server.url + url)
        assert _overflow(page) <= 0, url
        assert page.evaluate(INLINE_HANDLERS_IN_MAIN) == 0, url
    # The base template's organisation switcher (onchange, outside these pages) is the only inline handler.
    assert [e for e in page.csp_errors if "inline event handler" not in e] == []
