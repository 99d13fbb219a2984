"""A person logs in through headless Chromium (Debian's, driven by Playwright) and sees the demo system."""

import os

import pytest
from django.contrib.auth import get_user_model

from accounts.choices import Role
from accounts.models import Membership, Organization
from audit.models import AISystem

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def page(chromium):
    yield chromium.new_page()


def test_it_logs_in_and_sees_the_demo_system(live_server, page):
    # given: the demo organisation with its system and an owner
    org = Organization.objects.create(name="Demo organisation", slug="demo")
    AISystem.objects.create(organization=org, name="Adult income classifier", domain="annex_iii_5_essential_services",
                            annex_iii_point="5(b)", placed_on_eu_market=True)
    user = get_user_model().objects.create_user("admin", "admin@example.org", "s3cret-pass")
    Membership.objects.create(user=user, organization=org, role=Role.OWNER)

    # when: the person logs in through the form
    page.goto(f"{live_server.url}/")
    assert "/login/" in page.url
    page.fill("#id_username", "admin")
    page.fill("#id_password", "s3cret-pass")
    page.click("button[type=submit]")

    # then: the systems list shows the demo system, and its page opens
    page.wait_for_selector("text=Adult income classifier")
    assert "Demo organisation" in page.content()
    page.click("text=Adult income classifier")
    page.wait_for_selector("h1:has-text('Adult income classifier')")
    assert "Annex III 5" in page.content()
    if os.environ.get("ASSAY_SCREENSHOTS"):
        page.screenshot(path=os.path.join(os.environ["ASSAY_SCREENSHOTS"], "system.png"), full_page=True)


def test_it_refuses_a_wrong_password(live_server, page):
    get_user_model().objects.create_user("admin", "admin@example.org", "s3cret-pass")
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "wrong")
    page.click("button[type=submit]")
    page.wait_for_selector("text=didn't match")
    assert "/login/" in page.url
