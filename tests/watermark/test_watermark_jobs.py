"""Batches (a zip or many files, a Celery job with progress, a zip back), the CLI and the dashboard."""

import io
import json
import zipfile

import pytest
from django.core.management import CommandError, call_command

from core.models import AuditLogEntry
from watermark import robustness
from watermark.models import ProvenanceRecord, WatermarkBatch

BATCHES = "/api/v1/watermark/batches"


def _file(data: bytes, name: str) -> io.BytesIO:
    f = io.BytesIO(data)
    f.name = name
    return f


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def pictures(images):
    return {f"img{i}.png": images.encode(robustness.synthetic_image(i, (256, 200))) for i in range(3)}


def test_a_zip_batch_runs_as_a_job_and_returns_a_zip(as_alice, alice_org, pictures, django_capture_on_commit_callbacks):
    entries = dict(pictures, **{"notes/readme.txt": b"not an image"})
    with django_capture_on_commit_callbacks(execute=True):
        response = as_alice.post(BATCHES, {"files": [_file(_zip(entries), "batch.zip")], "model_version": "m2"},
                                 format="multipart")
    assert response.status_code == 202, response.content[:300]
    batch = as_alice.get(f"{BATCHES}/{response.json()['id']}").json()
    assert batch["status"] == "succeeded" and batch["progress"] == 100
    assert (batch["total"], batch["done"], batch["failed"]) == (4, 4, 1)
    assert "not an image" in next(r["error"] for r in batch["results"] if r["name"] == "notes/readme.txt")
    download = as_alice.get(batch["download"])
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content) if download.streaming else download.content))
    assert sorted(archive.namelist()) == ["img0-stamped.png", "img1-stamped.png", "img2-stamped.png", "results.json"]
    assert len(json.loads(archive.read("results.json"))) == 4
    assert ProvenanceRecord.objects.filter(batch_id=batch["id"], source="batch", model_version="m2").count() == 3
    assert AuditLogEntry.objects.filter(organization=alice_org, action="watermark.batch.succeed").exists()


def test_many_files_make_a_batch_and_rerunning_it_duplicates_nothing(as_alice, pictures,
                                                                     django_capture_on_commit_callbacks):
    from watermark.jobs import execute_batch

    with django_capture_on_commit_callbacks(execute=True):
        response = as_alice.post(BATCHES, {"files": [_file(d, n) for n, d in pictures.items()]}, format="multipart")
    batch_id = response.json()["id"]
    WatermarkBatch.objects.filter(pk=batch_id).update(status="queued", attempts=0)  # as if redelivered
    execute_batch(batch_id)
    assert ProvenanceRecord.objects.filter(batch_id=batch_id).count() == 3
    assert WatermarkBatch.objects.get(pk=batch_id).status == "succeeded"


def test_a_batch_that_is_not_a_zip_of_images_is_a_400(as_alice, error_of):
    response = as_alice.post(BATCHES, {"files": [_file(b"PK\x03\x04broken", "x.zip")]}, format="multipart")
    assert response.status_code == 400 and "zip" in error_of(response)["message"]
    assert WatermarkBatch.objects.count() == 0


def test_batches_of_another_organisation_are_hidden(as_alice, as_charlie, pictures, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        batch_id = as_alice.post(BATCHES, {"files": [_file(pictures["img0.png"], "a.png")]},
                                 format="multipart").json()["id"]
    assert as_charlie.get(f"{BATCHES}/{batch_id}").status_code == 404
    assert as_charlie.get(f"{BATCHES}/{batch_id}/download").status_code == 404


class TestCommandLine:
    def test_it_stamps_and_verifies_a_file(self, alice_org, tmp_path, images):
        source, out, report = tmp_path / "in.png", tmp_path / "out.jpg", tmp_path / "report.json"
        source.write_bytes(images.encode(robustness.synthetic_image(0, (400, 300))))
        stdout = io.StringIO()
        call_command("watermark", "stamp", str(source), str(out), "--model-version", "v1", "--text", "AI generated · AI生成",
                     "--corner", "top-left", stdout=stdout)
        assert "record" in stdout.getvalue() and out.read_bytes()[:2] == b"\xff\xd8"
        record = ProvenanceRecord.objects.get()
        assert record.source == "cli" and record.label["corner"] == "top-left" and record.format == "JPEG"
        call_command("watermark", "verify", str(out), "--org", alice_org.slug, "--json", str(report), stdout=io.StringIO())
        result = json.loads(report.read_text())
        assert set(result) >= {"explicit", "implicit", "c2pa", "invisible"}
        assert result["invisible"]["detected"] and result["implicit"]["integrity"] == "ok"
        assert result["c2pa"]["state"] == "valid-untrusted" and result["explicit"]["text"] == "AI generated · AI生成"

    def test_layers_can_be_left_out(self, alice_org, tmp_path, images):
        source, out = tmp_path / "in.png", tmp_path / "out.png"
        source.write_bytes(images.encode(robustness.synthetic_image(0, (300, 300))))
        call_command("watermark", "stamp", str(source), str(out), "--no-visible", "--no-c2pa", "--no-metadata",
                     stdout=io.StringIO())
        assert ProvenanceRecord.objects.get().layers == {"visible": False, "metadata": False, "c2pa": False,
                                                        "invisible": True}

    def test_it_needs_the_organisation_when_there_are_several(self, alice_org, charlie_org, tmp_path, images):
        source = tmp_path / "in.png"
        source.write_bytes(images.encode(robustness.synthetic_image(0, (300, 300))))
        with pytest.raises(CommandError, match="--org"):
            call_command("watermark", "stamp", str(source), str(tmp_path / "o.png"), stdout=io.StringIO())

    def test_a_bad_file_is_a_clear_error(self, alice_org, tmp_path):
        source = tmp_path / "in.png"
        source.write_bytes(b"nope")
        with pytest.raises(CommandError, match="not an image"):
            call_command("watermark", "stamp", str(source), str(tmp_path / "o.png"), stdout=io.StringIO())
        assert ProvenanceRecord.objects.count() == 0


class TestDashboard:
    def test_a_user_stamps_previews_downloads_and_verifies(self, client, alice, images):
        client.force_login(alice)
        assert client.get("/watermark/").status_code == 200
        data = images.encode(robustness.synthetic_image(0, (400, 300)))
        response = client.post("/watermark/", {"file": _file(data, "poster.png"), "visible": "on", "metadata": "on",
                                               "c2pa": "on", "invisible": "on", "format": "webp"})
        assert response.status_code == 302
        record = ProvenanceRecord.objects.get()
        page = client.get(response["Location"]).content.decode()
        assert "Before" in page and "After" in page and f"/watermark/records/{record.pk}/after/" in page
        before = client.get(f"/watermark/records/{record.pk}/before/")
        after = client.get(f"/watermark/records/{record.pk}/after/?download=1")
        assert before["Content-Type"] == "image/png" and before.content == data
        assert after["Content-Type"] == "image/webp" and "attachment" in after["Content-Disposition"]
        result = client.post("/watermark/verify/", {"file": _file(after.content, "x.webp")}).content.decode()
        assert "detected" in result and "valid-untrusted" in result and f"#{record.pk}" in result

    def test_bad_uploads_show_the_message_and_record_nothing(self, client, alice):
        client.force_login(alice)
        response = client.post("/watermark/", {"file": _file(b"nope", "x.png"), "invisible": "on"})
        assert response.status_code == 200 and "not an image" in response.content.decode()
        assert ProvenanceRecord.objects.count() == 0

    def test_the_policy_page_saves_and_rotates(self, client, alice, bob):
        client.force_login(alice)
        response = client.post("/watermark/policy/", {"visible": "on", "invisible": "on", "label_text": "AI合成",
                                                      "corner": "top-right", "producer_code": "ALICE-AI"})
        assert response.status_code == 302
        from watermark.models import WatermarkPolicy

        policy = WatermarkPolicy.objects.get()
        assert (policy.label_text, policy.producer_code, policy.c2pa) == ("AI合成", "ALICE-AI", False)
        client.force_login(bob)
        assert client.post("/watermark/policy/", {"rotate": "1"}).status_code == 403
