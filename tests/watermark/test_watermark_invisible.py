"""The invisible watermark: round trip, each attack of WATERMARK.md, unmarked images, keys."""

import numpy as np
import pytest
from PIL import Image

from watermark import ecc, invisible, robustness

KEY_A = b"a" * 32
KEY_B = b"b" * 32
PAYLOAD = 0x0123_4567_89AB


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255**2 / mse)


def test_it_round_trips_the_payload_at_40_db(scene):
    marked = invisible.embed(scene, KEY_A, PAYLOAD)
    detection = invisible.detect(marked, KEY_A)
    assert detection.detected
    assert detection.payload == PAYLOAD
    assert invisible.raw_bit_accuracy(detection, PAYLOAD) == 1.0
    assert detection.false_positive_probability <= invisible.FALSE_POSITIVE_LIMIT
    assert psnr(scene, marked) >= 40.0


def test_it_changes_luminance_only(scene):
    marked = invisible.embed(scene, KEY_A, PAYLOAD).astype(int)
    delta = marked - scene.astype(int)
    unclipped = (scene > 5).all(axis=2) & (scene < 250).all(axis=2)
    assert (delta[unclipped, 0] == delta[unclipped, 1]).all() and (delta[unclipped, 1] == delta[unclipped, 2]).all()


@pytest.mark.parametrize("attack", sorted(robustness.ATTACKS))
@pytest.mark.parametrize("picture", ["scene", "shapes"])
def test_it_survives_each_attack(attack, picture, request):
    image = request.getfixturevalue(picture)
    marked = invisible.embed(image, KEY_A, PAYLOAD)
    attacked = np.asarray(robustness.ATTACKS[attack](Image.fromarray(marked)))
    detection = invisible.detect(attacked, KEY_A)
    assert detection.detected, (attack, detection.score, detection.geometry)
    assert detection.payload == PAYLOAD
    assert invisible.raw_bit_accuracy(detection, PAYLOAD) >= 0.9


def test_it_survives_jpeg_50_after_a_crop(scene):
    marked = Image.fromarray(invisible.embed(scene, KEY_A, PAYLOAD))
    width, height = marked.size
    cropped = marked.crop((40, 30, width - 20, height - 50))
    attacked = np.asarray(robustness.jpeg(cropped, 50))
    assert invisible.detect(attacked, KEY_A).payload == PAYLOAD


def test_another_key_reads_nothing(scene):
    marked = invisible.embed(scene, KEY_A, PAYLOAD)
    detection = invisible.detect(marked, KEY_B)
    assert not detection.detected
    assert detection.payload is None
    assert detection.false_positive_probability > invisible.FALSE_POSITIVE_LIMIT


def test_unmarked_images_are_not_detected(scene):
    pictures = [robustness.synthetic_image(seed, (320 + 16 * seed, 300)) for seed in range(10, 22)]
    pictures += [scene, scene[50:300, 80:400], np.asarray(Image.fromarray(scene).resize((700, 525)))]
    for picture in pictures:
        detection = invisible.detect(picture, KEY_A)
        assert not detection.detected
        assert detection.score < invisible.SCORE_THRESHOLD


def test_the_false_positive_bound_is_a_union_over_payloads_and_trials():
    assert invisible.false_positive_probability(invisible.SCORE_THRESHOLD) == pytest.approx(
        invisible.FALSE_POSITIVE_LIMIT, rel=1e-6)
    assert invisible.false_positive_probability(0.0) == 1.0
    assert invisible.false_positive_probability(20.0) < 1e-60


def test_it_refuses_a_key_shorter_than_16_bytes(scene):
    with pytest.raises(invisible.WatermarkKeyError):
        invisible.embed(scene, b"short", PAYLOAD)


def test_it_refuses_an_image_too_small_for_the_pattern():
    with pytest.raises(ValueError, match="too small"):
        invisible.embed(np.zeros((64, 200, 3), dtype=np.uint8), KEY_A, PAYLOAD)


def test_it_refuses_a_payload_over_48_bits(scene):
    with pytest.raises(ValueError, match="48 bits"):
        invisible.embed(scene, KEY_A, 1 << 48)


class TestConvolutionalCode:
    def test_it_round_trips_a_message(self):
        bits = np.random.default_rng(0).integers(0, 2, 48).astype(np.uint8)
        coded = ecc.encode(bits)
        assert coded.size == ecc.coded_length(48) == 162
        assert (ecc.decode(coded * 2.0 - 1.0, 48) == bits).all()

    def test_it_corrects_flipped_bits(self):
        bits = np.random.default_rng(1).integers(0, 2, 48).astype(np.uint8)
        soft = ecc.encode(bits) * 2.0 - 1.0
        soft[[3, 40, 77, 120, 150]] *= -1
        assert (ecc.decode(soft, 48) == bits).all()

    def test_it_checks_the_length(self):
        with pytest.raises(ValueError, match="expected 162"):
            ecc.decode(np.zeros(10), 48)


def test_a_large_picture_cropped_to_under_half_is_found_at_half_resolution():
    large = np.asarray(Image.fromarray(robustness.synthetic_image(4, (800, 600), kind="scene")).resize((1600, 1200)))
    marked = invisible.embed(large, KEY_A, PAYLOAD)
    cropped = marked[330:870, 440:1160]  # 45 %: the tile appears at 2.2 times its working scale
    detection = invisible.detect(cropped, KEY_A)
    assert detection.payload == PAYLOAD
    assert detection.geometry["scale"] == pytest.approx(2.22, abs=0.05)
