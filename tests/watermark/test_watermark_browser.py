"""A person stamps an image on the dashboard, sees it before and after, downloads it and verifies it (Chromium)."""

import os
import shutil

import pytest
from django.contrib.auth import get_user_model

from accounts.choices import Role
from accounts.models import Membership, Organization
from watermark.models import ProvenanceRecord

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def page(chromium):
    yield chromium.new_page(viewport={"width": 1280, "height": 1000}, accept_downloads=True)


def test_a_person_stamps_downloads_and_verifies(live_server, page, tmp_path, images):
    org = Organization.objects.create(name="Poster studio", slug="posters")
    user = get_user_model().objects.create_user("mei", "mei@example.org", "a-long-password")
    Membership.objects.create(user=user, organization=org, role=Role.OWNER)
    picture = tmp_path / "poster.png"
    picture.write_bytes(images.encode(images.synthetic(0, (640, 480), "scene")))

    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "mei")
    page.fill("input[name=password]", "a-long-password")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/watermark/")
    page.set_input_files("#stamp-form input[name=file]", str(picture))
    page.fill("#stamp-form input[name=model_version]", "poster-gen 2.1")
    page.click("#stamp-form button[type=submit]")
    page.wait_for_selector("#preview")
    record = ProvenanceRecord.objects.get()
    assert page.locator("#preview img").count() == 2
    assert page.evaluate("Array.from(document.querySelectorAll('#preview img')).every(i => i.naturalWidth === 640)")
    page.screenshot(path=str(tmp_path / "record.png"), full_page=True)

    with page.expect_download() as download:
        page.click("#download")
    stamped = tmp_path / "stamped.png"
    download.value.save_as(str(stamped))
    assert stamped.read_bytes()[:4] == b"\x89PNG"

    page.goto(f"{live_server.url}/watermark/verify/")
    page.set_input_files("#verify-form input[name=file]", str(stamped))
    page.click("#verify-form button[type=submit]")
    page.wait_for_selector("#report")
    text = page.inner_text("#report")
    assert "detected" in text and "valid-untrusted" in text and "ok" in text
    assert f"#{record.pk}" in page.inner_text("#record")
    page.screenshot(path=str(tmp_path / "verify.png"), full_page=True)
    if os.getenv("ASSAY_SCREENSHOTS"):
        for name in ("record.png", "verify.png"):
            shutil.copy(tmp_path / name, os.path.join(os.environ["ASSAY_SCREENSHOTS"], name))
