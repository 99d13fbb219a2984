"""The AIGC label: seven fields in order, the integrity code, PNG/JPEG/WebP round trips; bad input."""

import base64
import hashlib
import hmac
import io
import json

import numpy as np
import pytest
from PIL import Image

from watermark import imageio, implicit

KEY = b"k" * 32
PIXELS = "ab" * 32


def _label(**kwargs):
    return implicit.build(key=KEY, producer="ACME-AI", produce_id="0f0e0d", pixel_sha256=PIXELS, **kwargs)


def test_it_has_the_seven_fields_in_order():
    label = _label()
    assert list(label) == ["AIGC"]
    assert list(label["AIGC"]) == ["Label", "ContentProducer", "ProduceID", "ReservedCode1", "ContentPropagator",
                                   "PropagateID", "ReservedCode2"]
    fields = label["AIGC"]
    assert fields["Label"] == "1"
    assert (fields["ContentPropagator"], fields["PropagateID"]) == ("ACME-AI", "0f0e0d")  # first write
    assert fields["ReservedCode2"] == ""
    assert implicit.check(fields) == []
    assert implicit.to_json(label).startswith('{"AIGC":{"Label":"1","ContentProducer":"ACME-AI"')


def test_reserved_code_1_is_the_hmac_over_the_producer_fields_and_pixels():
    message = "AIGC-RC1/v1\n1\nACME-AI\n0f0e0d\n" + PIXELS
    expected = base64.b64encode(hmac.new(KEY, message.encode(), hashlib.sha256).digest()).decode()
    fields = _label()["AIGC"]
    assert fields["ReservedCode1"] == expected
    assert implicit.verify_integrity(fields, KEY, PIXELS)


@pytest.mark.parametrize("field, value", [("ProduceID", "0f0e0e"), ("ContentProducer", "OTHER"), ("Label", "2")])
def test_an_edited_field_breaks_the_integrity_code(field, value):
    fields = dict(_label()["AIGC"], **{field: value})
    assert not implicit.verify_integrity(fields, KEY, PIXELS)


def test_other_pixels_or_another_key_break_the_integrity_code():
    fields = _label()["AIGC"]
    assert not implicit.verify_integrity(fields, KEY, "cd" * 32)
    assert not implicit.verify_integrity(fields, b"x" * 32, PIXELS)


@pytest.mark.parametrize("value", ["ACME AI", 'say"hi"', "back\\slash", "人工智能"])
def test_it_refuses_values_that_are_not_printable_ascii_without_space_quote_backslash(value):
    with pytest.raises(implicit.MetadataError, match="printable ASCII"):
        implicit.build(key=KEY, producer=value, produce_id="1", pixel_sha256=PIXELS)


def test_check_reports_missing_fields_and_wrong_order():
    fields = _label()["AIGC"]
    assert "missing fields: ReservedCode2" in implicit.check({k: v for k, v in fields.items() if k != "ReservedCode2"})
    shuffled = dict(reversed(list(fields.items())))
    assert any("order" in p for p in implicit.check(shuffled))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_it_round_trips_in_each_format_without_touching_the_pixels(fmt, scene):
    rgb = scene[:200, :240]
    data = imageio.encode(rgb, fmt)
    labelled = implicit.write(data, fmt, _label())
    found = implicit.read(labelled)
    assert found["sources"]["XMP"] == _label()["AIGC"]
    if fmt == "PNG":
        assert found["sources"]["iTXt"] == _label()["AIGC"]
        assert b"iTXt" in labelled and b"AIGC\x00\x00\x00" in labelled  # keyword AIGC, uncompressed
    assert b"TC260:AIGC" in labelled and implicit.DEFAULT_NAMESPACE.encode() in labelled
    before, after = imageio.decode(data), imageio.decode(labelled)
    assert (before.rgb == after.rgb).all()
    Image.open(io.BytesIO(labelled)).load()  # still a valid file for Pillow


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_a_file_carries_exactly_one_label(fmt, scene):
    data = imageio.encode(scene[:128, :128], fmt)
    twice = implicit.write(implicit.write(data, fmt, _label()), fmt, _label(label="2"))
    found = implicit.read(twice)
    assert found["sources"]["XMP"]["Label"] == "2"
    assert found["count"] == (2 if fmt == "PNG" else 1)  # PNG: the iTXt chunk and the XMP copy


def test_it_reads_nothing_from_an_unlabelled_file(scene):
    assert implicit.read(imageio.encode(scene[:64, :64], "JPEG")) == {"sources": {}, "count": 0}


def test_webp_with_alpha_keeps_its_alpha(scene):
    alpha = np.full(scene.shape[:2], 200, dtype=np.uint8)
    data = imageio.encode(scene, "WEBP", alpha=alpha)
    decoded = imageio.decode(implicit.write(data, "WEBP", _label()))
    assert decoded.alpha is not None


class TestBadInput:
    @pytest.mark.parametrize("name", ["not an image", "empty", "truncated png", "truncated jpeg",
                                      "decompression bomb", "huge dimension", "16-bit mode", "cmyk mode"])
    def test_it_refuses_it_with_a_message(self, name, bad_uploads):
        with pytest.raises(imageio.ImageError) as caught:
            imageio.decode(bad_uploads[name])
        message = str(caught.value)
        expected = {"truncated png": "truncated", "truncated jpeg": "truncated", "decompression bomb": "bomb",
                    "huge dimension": "side longer", "16-bit mode": "mode", "cmyk mode": "mode",
                    "not an image": "not an image", "empty": "empty"}[name]
        assert expected in message


def test_the_pixel_hash_covers_size_mode_and_samples():
    rgb = np.zeros((4, 6, 3), dtype=np.uint8)
    assert imageio.pixel_sha256(rgb) == hashlib.sha256(b"RGB" + bytes([0, 0, 0, 6, 0, 0, 0, 4]) + rgb.tobytes()).hexdigest()
    assert imageio.pixel_sha256(rgb) != imageio.pixel_sha256(rgb.reshape(6, 4, 3))
    assert json.dumps(imageio.pixel_sha256(rgb, np.zeros((4, 6), np.uint8)))
