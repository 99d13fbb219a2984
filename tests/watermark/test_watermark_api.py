"""POST /api/v1/watermark/stamp and /verify: every format, every layer, keys per organisation, bad input."""

import io

import pytest
from PIL import Image

from core.models import Artifact, AuditLogEntry
from watermark import implicit, robustness
from watermark.models import ProvenanceRecord, Verification

STAMP = "/api/v1/watermark/stamp"
VERIFY = "/api/v1/watermark/verify"


def upload(data: bytes, name: str) -> io.BytesIO:
    f = io.BytesIO(data)
    f.name = name
    return f


@pytest.fixture
def photo(scene, images) -> bytes:
    return images.encode(scene, "PNG")


def stamp(client, data: bytes, name: str = "picture.png", **fields):
    return client.post(STAMP, {"file": upload(data, name), **fields}, format="multipart")


def verify(client, data: bytes, **fields) -> dict:
    response = client.post(VERIFY, {"file": upload(data, "check.bin"), **fields}, format="multipart")
    assert response.status_code == 200, response.content[:300]
    return response.json()


@pytest.mark.parametrize("fmt, mime", [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")])
def test_it_stamps_each_format_and_verify_reports_all_four_layers(as_alice, alice, alice_system, scene, images,
                                                                  fmt, mime):
    data = images.encode(scene, fmt, **({"quality": 95} if fmt != "PNG" else {}))
    response = stamp(as_alice, data, f"gen.{fmt.lower()}", system=alice_system.pk, model_version="sdxl-1.0")
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == mime
    record = ProvenanceRecord.objects.get(pk=response["X-Assay-Record"])
    assert record.format == fmt and record.system == alice_system and record.model_version == "sdxl-1.0"
    assert record.layers == {"visible": True, "metadata": True, "c2pa": True, "invisible": True}

    report = verify(as_alice, response.content)
    assert report["explicit"]["ok"] and report["explicit"]["ocr"]["position"] == "bottom-right"  # read from the pixels
    assert {k: report["explicit"][k] for k in ("recorded", "text", "corner", "height_ratio", "box")} == {
        "recorded": True, "text": "AI生成", "corner": "bottom-right",
                                  "height_ratio": record.label["height_ratio"], "box": record.label["box"]}
    assert report["explicit"]["height_ratio"] >= 0.05
    assert report["implicit"]["present"] and report["implicit"]["complete"]
    assert report["implicit"]["integrity"] == "ok"
    assert report["implicit"]["fields"]["ProduceID"] == record.produce_id.hex
    assert report["c2pa"]["state"] == "valid-untrusted" and report["c2pa"]["created_by_ai"]
    invisible = report["invisible"]
    assert invisible["detected"] and invisible["payload"] == record.payload
    assert invisible["false_positive_probability"] <= 1e-6
    assert invisible["record"] == {"id": record.pk, "organization": alice.memberships.get().organization.slug,
                                   "system": "Credit scoring", "model_version": "sdxl-1.0",
                                   "stamped_at": record.created.isoformat()}
    assert Verification.objects.filter(record=record, system=alice_system).count() == 1


def test_it_keeps_the_input_format_unless_asked(as_alice, photo):
    assert stamp(as_alice, photo)["Content-Type"] == "image/png"
    assert stamp(as_alice, photo, format="jpeg")["Content-Type"] == "image/jpeg"


def test_after_jpeg_50_and_a_crop_verify_still_names_the_record(as_alice, photo):
    response = stamp(as_alice, photo, model_version="v7")
    stamped = Image.open(io.BytesIO(response.content)).convert("RGB")
    width, height = stamped.size
    attacked = io.BytesIO()
    stamped.crop((int(0.1 * width), int(0.1 * height), int(0.9 * width), int(0.9 * height))).save(
        attacked, "JPEG", quality=50)
    report = verify(as_alice, attacked.getvalue())
    assert report["invisible"]["detected"]
    assert report["invisible"]["record"]["id"] == int(response["X-Assay-Record"])
    assert report["invisible"]["record"]["model_version"] == "v7"
    assert report["implicit"]["present"] is False and report["c2pa"]["state"] == "absent"
    assert report["explicit"]["recorded"]  # found through the invisible payload


def test_every_stamp_is_recorded_and_logged(as_alice, alice_org, photo):
    response = stamp(as_alice, photo)
    record = ProvenanceRecord.objects.get(pk=response["X-Assay-Record"])
    entry = AuditLogEntry.objects.get(organization=alice_org, action="watermark.stamp")
    assert entry.object_id == str(record.pk) and entry.actor_name == "alice"
    assert entry.payload["payload"] == record.payload and entry.payload["output_sha256"] == record.output_sha256
    assert len(record.input_sha256) == 64 and record.created_by_name == "alice"


def test_another_organisation_cannot_decode_or_see_the_record(as_alice, as_charlie, photo):
    response = stamp(as_alice, photo)
    report = verify(as_charlie, response.content)
    assert report["invisible"]["detected"] is False and report["invisible"]["payload"] is None
    assert report["invisible"]["record"] is None and report["record"] is None
    assert report["implicit"]["integrity"] == "unknown key"
    assert report["explicit"]["recorded"] is False and report["explicit"]["ok"]  # the label is in the pixels
    assert as_charlie.get(f"/api/v1/watermark/records/{response['X-Assay-Record']}").status_code == 404
    assert as_charlie.get("/api/v1/watermark/records").json()["count"] == 0
    assert Verification.objects.count() == 0


def test_an_edited_label_is_reported_as_a_mismatch(as_alice, photo):
    stamped = stamp(as_alice, photo, c2pa="false").content
    fields = implicit.read(stamped)["sources"]["iTXt"]
    forged = implicit.write(stamped, "PNG", {"AIGC": dict(fields, ProduceID="0" * 32)})
    report = verify(as_alice, forged)
    assert report["implicit"]["integrity"] == "mismatch"
    assert report["invisible"]["detected"]  # the pixels still carry the mark


def test_layers_can_be_turned_off_per_request(as_alice, photo):
    response = stamp(as_alice, photo, visible="false", c2pa="false", metadata="false")
    record = ProvenanceRecord.objects.get(pk=response["X-Assay-Record"])
    assert record.layers == {"visible": False, "metadata": False, "c2pa": False, "invisible": True}
    report = verify(as_alice, response.content)
    assert report["explicit"]["recorded"] is False and not report["explicit"]["ok"]
    assert not report["implicit"]["present"]
    assert report["c2pa"]["state"] == "absent" and report["invisible"]["detected"]


def test_a_viewer_cannot_stamp_but_can_verify(as_alice, as_bob, photo):
    assert stamp(as_bob, photo).status_code == 403
    stamped = stamp(as_alice, photo).content
    assert verify(as_bob, stamped)["invisible"]["detected"]


def test_anonymous_callers_are_refused(client_for, photo):
    assert stamp(client_for("anonymous"), photo).status_code in (401, 403)


@pytest.mark.parametrize("name", ["not an image", "empty", "truncated png", "truncated jpeg", "decompression bomb",
                                  "huge dimension", "16-bit mode", "cmyk mode"])
def test_bad_input_gets_a_400_and_nothing_is_recorded(as_alice, alice_org, bad_uploads, error_of, name, artifact_dir):
    response = stamp(as_alice, bad_uploads[name], "bad.png")
    assert response.status_code == 400, response.content[:200]
    assert error_of(response)["message"]
    response = as_alice.post(VERIFY, {"file": upload(bad_uploads[name], "bad.png")}, format="multipart")
    assert response.status_code == 400
    assert ProvenanceRecord.objects.count() == 0 and Verification.objects.count() == 0
    assert not AuditLogEntry.objects.filter(organization=alice_org).exists()
    assert Artifact.objects.count() == 0


def test_a_label_the_font_cannot_draw_is_a_400(as_alice, photo, error_of):
    response = stamp(as_alice, photo, text="AI生成😀")
    assert response.status_code == 400 and "U+1F600" in error_of(response)["message"]
    assert ProvenanceRecord.objects.count() == 0


def test_an_image_too_small_for_the_invisible_layer_is_a_400(as_alice, images, error_of):
    tiny = images.encode(robustness.synthetic_image(1, (80, 60)))
    response = stamp(as_alice, tiny)
    assert response.status_code == 400 and "invisible" in error_of(response)["message"]
    assert stamp(as_alice, tiny, invisible="false", text="AI生成").status_code == 200


def test_policy_is_read_by_members_and_changed_by_admins(as_alice, as_dave, photo, alice_org):
    policy = as_dave.get("/api/v1/watermark/policy").json()
    assert policy["label_text"] == "AI生成" and policy["corner"] == "bottom-right"
    assert as_dave.put("/api/v1/watermark/policy", {"label_text": "人工智能生成"}, format="json").status_code == 403
    response = as_alice.patch("/api/v1/watermark/policy", {"label_text": "人工智能生成", "corner": "top-left",
                                                           "c2pa": False}, format="json")
    assert response.status_code == 200 and response.json()["corner"] == "top-left"
    assert as_alice.patch("/api/v1/watermark/policy", {"label_text": "hello"}, format="json").status_code == 400
    record = ProvenanceRecord.objects.get(pk=stamp(as_alice, photo)["X-Assay-Record"])
    assert record.label["text"] == "人工智能生成" and record.label["corner"] == "top-left"
    assert record.layers["c2pa"] is False
    assert AuditLogEntry.objects.filter(organization=alice_org, action="watermark.policy.update").exists()


def test_keys_rotate_and_old_stamps_still_verify(as_alice, as_dave, photo):
    old = stamp(as_alice, photo).content
    assert as_dave.post("/api/v1/watermark/keys/rotate").status_code == 403
    assert as_alice.post("/api/v1/watermark/keys/rotate").status_code == 201
    new = stamp(as_alice, photo).content
    assert verify(as_alice, old)["invisible"]["detected"]
    assert verify(as_alice, new)["invisible"]["detected"]
    assert verify(as_alice, old)["implicit"]["integrity"] == "ok"


def test_keys_are_encrypted_at_rest(as_alice, photo, artifact_dir):
    from watermark.models import WatermarkKey
    from watermark.services import verification_keys

    stamp(as_alice, photo)
    key = WatermarkKey.objects.get()
    secret = verification_keys(key.organization)[0][1]
    stored = b"".join(p.read_bytes() for p in artifact_dir.rglob("*.bin"))
    assert len(secret) == 32 and secret not in stored


def test_a_member_of_several_organisations_stamps_for_a_system_without_naming_its_organisation(
        as_alice, alice, alice_system, photo):
    # given: alice also owns a second organisation (the README's `POST /organizations` first)
    assert as_alice.post("/api/v1/organizations", {"name": "Model risk"}).status_code == 201

    # when: she stamps for her system, naming no organisation
    response = stamp(as_alice, photo, system=alice_system.pk, model_version="sdxl-1.0")

    # then: the system's organisation is the one; without a system the request still has to name it
    assert response.status_code == 200, response.content[:300]
    assert ProvenanceRecord.objects.get(pk=response["X-Assay-Record"]).organization == alice_system.organization
    assert "Name the organization" in stamp(as_alice, photo).json()["error"]["message"]
